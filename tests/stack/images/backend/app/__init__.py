"""AI Shield reference backend (test data for the deploy roles)."""
