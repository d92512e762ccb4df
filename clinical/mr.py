"""The MR safety rules: screening before start, clearance of conditional answers, MR Unsafe blocks."""
