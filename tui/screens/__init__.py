"""One screen per step of a transfer, plus the failure, abort and admin screens."""
