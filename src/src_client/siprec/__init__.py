"""SIPREC toward a recording server: connectors, RFC 7865 metadata, offer/answer, sessions."""
