"""Renders the error table as Markdown (`docs/errors.md`); a test keeps the file in sync."""

from __future__ import annotations

from src_client.errors import ALL_ERRORS


def render() -> str:
    lines = [
        "# Error codes",
        "",
        "Every error src-client reports (REST error bodies, `SiprecErrorCode` in status",
        "callbacks, alerts, TwiML and webhook failures) is one row of `src/src_client/errors.py`.",
        "Codes are Twilio's where Twilio defines one for the same situation; rows marked *ours*",
        "use codes Twilio leaves unused. Regenerate with `python -m src_client.errors_doc`.",
        "",
        "| code | HTTP | name | message | origin |",
        "|---|---|---|---|---|",
    ]
    for spec in sorted(ALL_ERRORS, key=lambda s: (s.code, s.name)):
        origin = "Twilio" if spec.twilio_defined else "ours"
        message = spec.template.replace("|", "\\|")
        lines.append(f"| {spec.code} | {spec.http_status} | `{spec.name}` | {message} | {origin} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
