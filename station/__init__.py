"""transfer-station core: read, verify, approve and import transfer bundles.

Nothing below this package imports Textual, Rich or the `tui` package; the kiosk app and the
`station` CLI are two thin fronts over the same objects.
"""

__version__ = "0.1.0"
