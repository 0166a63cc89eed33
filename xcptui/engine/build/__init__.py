"""A build: the plan (recipe -> typed changes), the atomic runner, and ISO facts.
"""
