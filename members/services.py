"""One member across every channel: identities, points, tiers and coupons."""
