"""The actors of the system, one per module, and the messages they exchange."""
