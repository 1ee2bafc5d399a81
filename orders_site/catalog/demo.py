"""The demo shop `make run` starts with: its staff user and catalog (loaded by `load_demo`).

Plain constants, importable without Django set up (the launcher prints them in its ready block)."""

DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password"
DEMO_PRODUCTS = [
    ("KB-001", "Mechanical keyboard", 8900, 50),
    ("MS-002", "Wireless mouse", 2900, 100),
    ("MN-003", "27-inch monitor", 24900, 10),
    ("HS-004", "Noise-cancelling headset", 15900, 25),
    ("CB-005", "USB-C cable", 900, 1000),
]
