"""The connected side: making signed bundles, keys and test images.

Nothing on the kiosk's verify-and-import path imports this package (a test makes sure): a
station that only receives holds no code that signs.
"""
