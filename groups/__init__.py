"""Feature groups and k:N search: Milvus as the system of record, an in-memory index to search."""

from vigil.groups.service import GroupService

__all__ = ["GroupService"]
