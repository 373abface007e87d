"""The kiosk's one theme: the 16 ANSI colours and nothing else, so it reads on a Linux console.

With `ansi=True` Textual hands the terminal ANSI colour numbers instead of RGB values it
would otherwise derive from a palette of its own (whose "red" a 16-colour terminal then shows
as magenta). The terminal's own palette decides the shades; the roles stay: rejected on red,
aborted in yellow on black, accepted on green, footer keys in cyan (red means danger only).
Every coloured state also carries a word and a symbol (station.tcss, widgets).
"""

from __future__ import annotations

from textual.theme import Theme

STATION_THEME = Theme(
    name="station-16",
    ansi=True,
    dark=True,
    primary="ansi_blue",
    secondary="ansi_cyan",
    warning="ansi_yellow",
    error="ansi_red",
    success="ansi_green",
    accent="ansi_cyan",
    foreground="ansi_white",
    background="ansi_black",
    surface="ansi_black",
    panel="ansi_black",
    boost="ansi_black",
    variables={
        "ansi-background": "ansi_black",
        "ansi-foreground": "ansi_white",
        "border": "ansi_bright_cyan",
        "border-blurred": "ansi_white",
        "block-cursor-foreground": "ansi_black",
        "block-cursor-background": "ansi_white",
        "block-cursor-text-style": "bold",
        "block-cursor-blurred-foreground": "ansi_black",
        "block-cursor-blurred-background": "ansi_white",
        "block-cursor-blurred-text-style": "none",
        "block-hover-background": "ansi_black",
        "footer-foreground": "ansi_white",
        "footer-background": "ansi_black",
        "footer-key-foreground": "ansi_bright_cyan",
        "footer-key-background": "ansi_black",
        "footer-description-foreground": "ansi_white",
        "footer-description-background": "ansi_black",
        "footer-item-background": "ansi_black",
        "input-cursor-background": "ansi_white",
        "input-cursor-foreground": "ansi_black",
        "input-cursor-text-style": "none",
        "input-selection-background": "ansi_cyan",
        "input-selection-foreground": "ansi_black",
        "scrollbar": "ansi_white",
        "scrollbar-hover": "ansi_bright_white",
        "scrollbar-active": "ansi_bright_white",
        "scrollbar-background": "ansi_blue",
        "scrollbar-background-hover": "ansi_blue",
        "scrollbar-background-active": "ansi_blue",
        "scrollbar-corner-color": "ansi_black",
        "button-foreground": "ansi_white",
        "button-color-foreground": "ansi_black",
        "button-focus-text-style": "bold reverse",
        "screen-selection-background": "ansi_cyan",
        "screen-selection-foreground": "ansi_black",
    },
)
"""Registered and selected by `StationApp`; snapshots are taken with it."""
