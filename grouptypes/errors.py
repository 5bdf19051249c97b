"""Errors raised while registering, looking up and loading group types (spec §9.5)."""


class GroupTypeRegistrationError(ValueError):
    """A group type, category or value object breaks a registration rule; aborts worker start (§9.5.3)."""


class UnknownGroupType(LookupError):
    """No group type is registered under the requested type_id (§9.5.4)."""

    def __init__(self, type_id: int) -> None:
        super().__init__(f"The group type with the type_id {type_id} is not registered.")
        self.type_id = type_id


class GroupTypeLoadError(RuntimeError):
    """A module that should define group types could not be imported (§9.5.3, §9.5.5)."""
