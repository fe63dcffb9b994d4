"""Every change tokentrace makes to what an SDK sends or returns lives here, one module each.

Plus the table of private SDK names tokentrace relies on (``private_names``).
"""
