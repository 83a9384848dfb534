"""The hosted preference page: plain HTML with a form, no script, readable on any phone."""

from __future__ import annotations

from jinja2 import Environment

from app.preferences.service import CHANNELS, UserPreferences

LABELS = {"email": "Email", "push": "Push notifications", "in_app": "In-app messages"}

_PAGE = Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{ title }}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;color:#222}
fieldset{border:1px solid #ddd;border-radius:8px;margin:1rem 0}button{font:inherit;padding:.5rem 1rem}
.note{background:#eef7ee;padding:.5rem 1rem;border-radius:8px}</style></head>
<body><h1>{{ title }}</h1>
{% if note %}<p class="note">{{ note }}</p>{% endif %}
{% if unsubscribe_action %}
<form method="post" action="{{ unsubscribe_action }}"><p>Stop receiving {{ unsubscribe_what }}?</p>
<button type="submit">Unsubscribe</button></form><hr>
{% endif %}
<form method="post" action="{{ preferences_action }}">
{% for channel in channels %}<fieldset><legend>
<label><input type="checkbox" name="channel:{{ channel }}"{% if prefs.channels[channel] %} checked{% endif %}>
{{ labels[channel] }}</label></legend>
{% for category, on in prefs.categories[channel].items() %}
<label style="display:block;margin-left:1.5rem">
<input type="checkbox" name="category:{{ channel }}:{{ category }}"{% if on %} checked{% endif %}>
{{ category }}</label>{% endfor %}
</fieldset>{% endfor %}
<button type="submit">Save preferences</button></form></body></html>"""
)


def render_page(
    prefs: UserPreferences,
    *,
    preferences_action: str,
    unsubscribe_action: str | None = None,
    unsubscribe_what: str = "",
    note: str = "",
) -> str:
    return _PAGE.render(
        title="Your message preferences",
        prefs=prefs,
        channels=CHANNELS,
        labels=LABELS,
        preferences_action=preferences_action,
        unsubscribe_action=unsubscribe_action,
        unsubscribe_what=unsubscribe_what,
        note=note,
    )
