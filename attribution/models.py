"""Clerk referral attribution: bindings, service events and commission settlement."""
