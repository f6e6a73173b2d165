"""kafka-python must checksum record batches in C: its pure-Python CRC-32C fallback was
half of an ingestor's CPU (docs/performance.md, "Per-frame work"), so losing the
`crc32c` dependency is a regression these tests catch."""

from kafka.record import util

from vigil.infra.bus.kafka import native_checksums


def test_record_batches_are_checksummed_in_c():
    assert native_checksums()


def test_the_native_checksum_is_crc32c():
    # the standard check value of CRC-32C (Castagnoli) for "123456789"
    assert util.calc_crc32c(memoryview(b"123456789")) == 0xE3069283
    assert util.crc32c_py(memoryview(b"123456789")) == 0xE3069283


def test_the_pure_python_fallback_is_recognised(monkeypatch):
    monkeypatch.setattr(util.calc_crc32c, "__defaults__", (util.crc32c_py,))
    assert not native_checksums()
