"""src-client: a SIPREC Session Recording Client (RFC 7866/7865).

Packages: ``sip`` (SIP stack), ``sdp`` (SDP model), ``media`` (Python face of the C
engine in ``native/``), ``siprec`` (recording sessions toward an SRS), ``calls`` (B2BUA),
``twiml`` (TwiML parser/interpreter), ``api`` (Twilio-compatible REST API), ``srs``
(bundled test SRS), ``store`` (persistence).
"""

__version__ = "0.1.0"
