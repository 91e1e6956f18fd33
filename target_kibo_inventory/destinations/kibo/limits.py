"""Kibo's documented limits (its OpenAPI spec and translated guides), each defined once."""

REFRESH_MAX_ITEMS = 12000
"""Most items in one Inventory Refresh request."""

REFRESH_COST_STEP = 3000
"""Kibo costs refresh jobs in steps of this many items (6001 items cost as much as 9000)."""

ADJUST_MAX_ITEMS = 1000
"""Most items in one Inventory Adjust request; Kibo answers 400 above it."""

MAX_ATTRIBUTES = 63
"""Most attributes on one item."""

MAX_LOCATOR_NAME_LENGTH = 50
"""Longest inventoryLocatorName."""

MIN_BIN_ID = 1
"""Smallest binID."""

INT32_MIN = -(2**31)
"""Smallest integer Kibo takes in an integer field (quantity, binID, floor, safetyStock,
currencyID): its integers are 32-bit."""

INT32_MAX = 2**31 - 1
"""Largest integer Kibo takes in an integer field."""
