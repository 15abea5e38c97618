"""ROI per program, pure: daily counters kept as decisions and outcomes are
recorded, and the report computed from them (see README.md)."""
