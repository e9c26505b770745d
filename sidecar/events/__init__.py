"""Events: the hub that turns store effects into the wire events of CONTRACT §6, with replay."""
