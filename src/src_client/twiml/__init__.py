"""TwiML: the typed document model and its validating parser (the interpreter builds on them)."""

from src_client.twiml.document import Response
from src_client.twiml.parser import TwimlError, parse_twiml

__all__ = ["Response", "TwimlError", "parse_twiml"]
