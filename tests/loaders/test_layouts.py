"""Layouts declared in YAML (issue 16): the built-in wide OptionsDX layout, a user's own wide
and long layouts in ``<vendor dir>/layouts/``, and the errors a broken layout gets.

Every data file used here is SYNTHETIC (``fixtures/wide/README.md``)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from loaders.layouts import LayoutError, all_formats, read_layout
from loaders.vendor import FORMATS, parse_file

WIDE = Path(__file__).parent / "fixtures" / "wide"


def _loader(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WAREHOUSE_DIR": str(tmp_path / "warehouse")}
    return subprocess.run(
        [sys.executable, "-m", "loaders", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def _vendor(tmp_path: Path) -> Path:
    vendor = tmp_path / "vendor"
    (vendor / "options" / "optionsdx_spy").mkdir(parents=True)
    shutil.copy(
        WIDE / "SYNTHETIC_optionsdx_spy_20200102.txt",
        vendor / "options" / "optionsdx_spy" / "SYNTHETIC_optionsdx_spy_20200102.txt",
    )
    (vendor / "options" / "orats").mkdir()
    shutil.copy(WIDE / "SYNTHETIC_orats_strikes_aapl_20230103.csv", vendor / "options" / "orats")
    (vendor / "options" / "desk").mkdir()
    shutil.copy(WIDE / "SYNTHETIC_desk_chain_qqq_03.01.2023.csv", vendor / "options" / "desk")
    (vendor / "layouts").mkdir()
    for name in ("orats_strikes.yaml", "desk_chain.yaml"):
        shutil.copy(WIDE / name, vendor / "layouts" / name)
    return vendor


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp_path = tmp_path_factory.mktemp("layouts")
    vendor = _vendor(tmp_path)
    raw = tmp_path / "raw"
    done = _loader(
        "load", "--vendor-dir", str(vendor), "--raw-dir", str(raw), "--only",
        "declared/option_quotes", tmp_path=tmp_path,
    )  # fmt: skip
    rows = pl.concat([pl.read_parquet(p) for p in sorted(raw.glob("declared/option_quotes/*"))])
    rejects = pl.concat(
        [pl.read_parquet(p) for p in sorted(raw.glob("_rejects/declared/option_quotes/*"))]
    )
    return {"done": done, "rows": rows, "rejects": rejects, "vendor": vendor, "tmp": tmp_path}


def test_a_wide_file_lands_one_call_and_one_put_per_line(loaded) -> None:
    assert loaded["done"].returncode == 0, loaded["done"].stderr
    dx = (
        loaded["rows"]
        .filter(pl.col("source") == "optionsdx_eod")
        .sort("source_line", "option_type")
    )
    # 4 lines x (call, put)
    assert dx.height == 8
    assert dx["source_line"].to_list() == [2, 2, 3, 3, 4, 4, 5, 5]
    line2 = {
        r["option_type"]: r for r in dx.filter(pl.col("source_line") == 2).iter_rows(named=True)
    }
    assert (line2["call"]["bid"], line2["call"]["ask"], line2["call"]["delta"]) == (
        6.05,
        6.15,
        0.62,
    )
    assert (line2["put"]["bid"], line2["put"]["ask"], line2["put"]["delta"]) == (1.20, 1.25, -0.38)
    assert line2["call"]["contract_symbol"] == "SPY200117C00320000"
    assert line2["put"]["contract_symbol"] == "SPY200117P00320000"
    assert line2["call"]["underlying_symbol"] == "SPY" and line2["call"]["strike"] == 320.0
    assert line2["call"]["underlying_price"] == 324.87
    # the close of 2020-01-02, 16:00 EST = 21:00 UTC
    assert line2["call"]["quoted_at"] == dt.datetime(2020, 1, 2, 21, 0, tzinfo=dt.UTC)
    # empty values stay null, never zero
    line4_call = dx.filter((pl.col("source_line") == 4) & (pl.col("option_type") == "call")).row(
        0, named=True
    )
    assert line4_call["volume"] is None and line4_call["last"] is None


def test_a_user_declared_wide_layout_lands(loaded) -> None:
    orats = loaded["rows"].filter(pl.col("source") == "orats_strikes")
    assert orats.height == 6
    atm_put = orats.filter((pl.col("strike") == 125) & (pl.col("option_type") == "put")).row(
        0, named=True
    )
    assert (atm_put["bid"], atm_put["ask"], atm_put["open_interest"]) == (4.95, 5.10, 11_000)
    assert atm_put["contract_symbol"] == "AAPL230217P00125000"
    assert atm_put["implied_volatility"] == 0.40


def test_a_user_declared_long_layout_lands_and_rejects_only_the_bad_date(loaded) -> None:
    desk = loaded["rows"].filter(pl.col("source") == "desk_chain").sort("source_line")
    assert desk.height == 3
    first = desk.row(0, named=True)
    assert first["option_root"] == "QQQ" and first["underlying_symbol"] == "QQQ"
    assert (first["quote_date"], first["expiration"]) == (dt.date(2023, 1, 3), dt.date(2023, 1, 20))
    assert first["option_type"] == "call" and desk.row(2, named=True)["option_type"] == "call"
    # 15:30 New York time in January = 20:30 UTC
    assert first["quoted_at"] == dt.datetime(2023, 1, 3, 20, 30, tzinfo=dt.UTC)
    rejects = loaded["rejects"].filter(pl.col("source") == "desk_chain")
    assert rejects["rule"].to_list() == ["unparseable:expiration"]
    assert rejects["source_line"].to_list() == [5]


def test_formats_lists_the_built_in_and_the_users_layouts(loaded) -> None:
    done = _loader("formats", "--vendor-dir", str(loaded["vendor"]), tmp_path=loaded["tmp"])
    assert done.returncode == 0, done.stderr
    for source in ("cboe_eod_chain", "optionsdx_eod", "orats_strikes", "desk_chain"):
        assert source in done.stdout
    assert "wide" in done.stdout and "layouts/desk_chain.yaml" in done.stdout


def test_check_names_the_layout_and_shows_the_first_rows(loaded) -> None:
    file = loaded["vendor"] / "options" / "orats" / "SYNTHETIC_orats_strikes_aapl_20230103.csv"
    done = _loader(
        "check", str(file), "--vendor-dir", str(loaded["vendor"]), tmp_path=loaded["tmp"]
    )
    assert done.returncode == 0, done.stderr
    assert "orats_strikes" in done.stdout
    assert "AAPL230217C00120000" in done.stdout
    unclaimed = loaded["tmp"] / "stray.csv"
    unclaimed.write_text("a,b\n1,2\n")
    done = _loader(
        "check", str(unclaimed), "--vendor-dir", str(loaded["vendor"]), tmp_path=loaded["tmp"]
    )
    assert done.returncode == 1
    assert "no layout claims" in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "source: Bad Name\npatterns: [a/*.csv]\ncolumns: {a: strike}\nquote_time: close\n",
            "source",
        ),
        (
            "source: x1\npatterns: [a/*.csv]\ncolumns: {a: strikes}\nquote_time: close\n",
            "'strikes'",
        ),
        (
            "source: x1\npatterns: [../a/*.csv]\ncolumns: {a: strike}\nquote_time: close\n",
            "patterns",
        ),
        ("source: x1\npatterns: [a/*.csv]\ncolumns: {a: strike}\n", "quote_time"),
        (
            "source: x1\npatterns: [a/*.csv]\ncolumns: {a: strike}\nquote_time: close\nvendor: acme\n",
            "vendor",
        ),
        (
            "source: x1\npatterns: [a/*.csv]\ncolumns: {a: strike}\nquote_time: close\nwide: {call: {b: bid}}\n",
            "wide",
        ),
        (
            "source: x1\npatterns: [a/*.csv]\ncolumns: {a: strike}\nquote_time: close\ncolour: red\n",
            "colour",
        ),
    ],
)
def test_a_broken_layout_is_refused_naming_its_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(LayoutError, match=f"broken.yaml: .*{message}"):
        read_layout(path)


def test_a_broken_user_layout_never_stops_the_others(tmp_path: Path) -> None:
    vendor = _vendor(tmp_path)
    (vendor / "layouts" / "broken.yaml").write_text("source: 1\n")
    (vendor / "layouts" / "clash.yaml").write_text(
        "source: cboe_eod_chain\npatterns: [x/*.csv]\ncolumns: {a: strike}\nquote_time: close\n"
    )
    formats, errors = all_formats(vendor)
    assert {f.source for f in formats} >= {"orats_strikes", "desk_chain", "cboe_eod_chain"}
    assert [name for name, _ in errors] == ["layouts/broken.yaml", "layouts/clash.yaml"]
    assert "already the source" in errors[1][1]


def test_the_built_in_yaml_layouts_parse_the_embedded_files_as_before() -> None:
    from warehouse.paths import REPO_ROOT

    vendor = REPO_ROOT / "warehouse" / "vendor"
    fmt = {f.source: f for f in FORMATS}
    assert fmt["cboe_eod_chain"].origin == "loaders/layouts/cboe_eod_chain.yaml"
    datashop, rejects = parse_file(
        fmt["cboe_datashop_1545"], vendor / "options/spxw_20190626_cboe_datashop.csv.gz", vendor
    )
    assert datashop.height == 10_384 and rejects.is_empty()
    assert set(datashop["option_root"]) == {"SPXW"} and set(datashop["underlying_symbol"]) == {
        "SPX"
    }
