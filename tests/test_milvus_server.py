"""The production path: GroupService on a real Milvus server (standalone, started here).

The server comes from the PyPI package `milvus` 2.3.5, installed on first use into
its own venv under the test cache (tests/run.sh installs it there, outside the repo;
.ci/milvus-requirements.txt), and started on free
ports with a temporary data dir; the client is the project's pymilvus 3.x.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from tests.conftest import REPO
from tests.support.milvus_devserver import DevServer, install
from tests.support.processes import TEST_CACHE
from tests.test_groups import DIM, MODEL, centres, enrol, feature, photos
from vigil.errors import ErrorCode, VigilError
from vigil.groups.service import GroupService

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = install(TEST_CACHE / "venv-milvus", REPO / ".ci" / "milvus-requirements.txt")
    with DevServer(binary, tmp_path_factory.mktemp("milvus")) as uri:
        yield uri


def test_crud_search_and_rebuild_on_a_milvus_server(milvus_uri: str):
    people = centres(40, seed=21)
    query = feature(photos(people[7], 1, np.random.default_rng(5))[0])
    with GroupService(milvus_uri) as service:
        assert service.store.is_server and service.store.index_type == "FLAT"
        service.create_group("staff", "server path")
        service.create_group("visitors")
        enrol(service, "staff", people[:30])
        enrol(service, "visitors", people[30:])
        service.update_member("staff", "p001", {"site": "moved"})
        service.remove_member("staff", "p002")
        service.rename_group("visitors", "guests")
        with pytest.raises(VigilError) as caught:
            service.create_group("staff")
        assert caught.value.code == ErrorCode.GROUP_EXISTS

        result = service.search(query, ["staff", "guests"], k=5, filter={"site": "A"})
        assert result.decision == "match" and result.best.person_id == "p007"
        staff = service._groups["staff"].record.group_id
        [milvus_hits] = service.store.search(staff, query.vector()[None], 5, {"site": ["A"]})
        assert milvus_hits[0][0] == result.best.feature_id  # Milvus's FLAT (exact) agrees
        assert milvus_hits[0][1] == pytest.approx(result.best.distance, abs=1e-4)
        groups, members = service.list_groups(), service.list_members("staff")
        assert [g.feature_count for g in groups] == [20, 58]  # guests, staff

    with GroupService(milvus_uri) as service:  # a restarted process rebuilds from the server
        assert service.list_groups() == groups
        assert service.list_members("staff") == members
        assert service.get_member("staff", "p001").metadata == {"site": "moved"}
        assert service.search(query, ["staff", "guests"], k=5, filter={"site": "A"}) == result
        guests = service._groups["guests"].record.group_id
        service.delete_group("guests")
        assert service.store.features_collection(guests) not in (
            service.store.client.list_collections()
        )
        assert service.get_group("staff").model == MODEL and service.get_group("staff").dim == DIM
