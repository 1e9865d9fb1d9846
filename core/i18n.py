"""Locale and time zone selection, and template helpers for both languages."""
from __future__ import annotations

from flask import current_app, request, session
from flask_login import current_user

LANGUAGES = ("ja", "en")


def select_locale() -> str:
    """The user's chosen locale, else ``?lang=``/session choice, else the browser's, else ja."""
    try:
        if current_user.is_authenticated and getattr(current_user, "locale", None) in LANGUAGES:
            return current_user.locale
    except Exception:  # outside a request (CLI): default
        return "ja"
    chosen = request.args.get("lang")
    if chosen in LANGUAGES:
        session["lang"] = chosen
        return chosen
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    return request.accept_languages.best_match(LANGUAGES) or "ja"


def select_timezone() -> str:
    return current_app.config.get("TIMEZONE", "Asia/Tokyo")


def register_template_helpers(app) -> None:
    from flask_babel import get_locale
    from flask_babel import gettext as _

    @app.context_processor
    def _helpers():
        # Strings the browser scripts show, in the page's language.
        strings = {
            "available": _("Available"), "busy": _("Busy"), "away": _("Away"),
            "wrap_up": _("Wrap-up"), "offline": _("Offline"),
            "connected": _("Live"), "disconnected": _("Disconnected — reconnecting…"),
            "error": _("Something went wrong. Please try again."),
            # Ranks, channels and timeline kinds appear on every console-like page.
            "platinum": _("Platinum"), "gold": _("Gold"), "silver": _("Silver"), "bronze": _("Bronze"),
            "new": _("New"), "phone": _("Phone"), "email": _("Email"), "web": _("Web"), "chat": _("Chat"),
            "kind_call": _("Call"), "kind_email": _("Email"), "kind_note": _("Note"), "kind_ticket": _("Ticket"),
            "kind_purchase": _("Purchase"), "kind_merge": _("Merge"), "kind_reply": _("Reply"),
            "kind_status": _("Status"), "kind_assignment": _("Assignment"), "kind_chat": _("Chat"),
            "kind_web": _("Web"),
        }
        return {"current_locale": str(get_locale() or "ja"), "i18n_strings": strings}
