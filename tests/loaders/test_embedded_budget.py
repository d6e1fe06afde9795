"""The embedded vendor data stays within its budget: every file under warehouse/vendor (data,
READMEs, licences, checksums) together under 25,000,000 bytes, so the repository stays small
enough to clone and to copy into each test warehouse."""

from __future__ import annotations

from warehouse.paths import REPO_ROOT

VENDOR = REPO_ROOT / "warehouse" / "vendor"
#: bytes, for all of warehouse/vendor (decided with the lead; the weekly AAPL surface subset
#: exists because the daily five-name file would not fit)
EMBEDDED_BUDGET_BYTES = 25_000_000


def test_embedded_vendor_data_is_under_budget() -> None:
    sizes = {
        p.relative_to(VENDOR).as_posix(): p.stat().st_size for p in VENDOR.rglob("*") if p.is_file()
    }
    total = sum(sizes.values())
    largest = sorted(sizes.items(), key=lambda item: (-item[1], item[0]))[:3]
    assert total < EMBEDDED_BUDGET_BYTES, (
        f"warehouse/vendor holds {total:,} bytes in {len(sizes)} files, over the budget of "
        f"{EMBEDDED_BUDGET_BYTES:,}; largest: {largest}"
    )
    print(
        f"warehouse/vendor: {total:,} bytes in {len(sizes)} files (budget {EMBEDDED_BUDGET_BYTES:,})"
    )
