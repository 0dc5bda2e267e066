"""The web POS for store clerks: registers, shifts, sales, pickups."""
