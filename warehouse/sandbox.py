"""A throwaway warehouse on part of the embedded vendor files, for the incremental-build test and
the build benchmark: every vendor file but the SPX 2019 chain, plus the first N days of the chain;
then more chain days can be added one at a time, as a daily load would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from warehouse.paths import REPO_ROOT, WarehousePaths

VENDOR_DIR = REPO_ROOT / "warehouse" / "vendor"
CHAIN_DIR = Path("options") / "spx_2019q2_cboe"
BIN = Path(sys.executable).parent


@dataclass
class Sandbox:
    """A warehouse under ``root`` whose vendor folder holds ``chain_days`` SPX chain files.

    ``env`` is the environment every command runs with: ``WAREHOUSE_DIR`` and dbt's target and
    log paths under ``root``, so nothing touches the repository's own warehouse.
    """

    root: Path
    env: dict[str, str]
    first_day: int = 0

    @classmethod
    def create(cls, root: Path, chain_days: int, first_day: int = 0) -> Sandbox:
        """Copy every vendor file except the SPX chain, and ``chain_days`` days of the chain
        from its ``first_day``-th file (0-based, in date order).

        Raises
        ------
        ValueError
            When the days asked for are not all among the embedded chain files.
        """
        files = chain_files()[first_day:]
        if first_day < 0 or not 1 <= chain_days <= len(files):
            raise ValueError(
                f"chain_days must be in [1, {len(files)}] from first_day {first_day}, "
                f"got {chain_days}"
            )
        vendor = root / "vendor"
        shutil.copytree(VENDOR_DIR, vendor, ignore=shutil.ignore_patterns("SPX_2019*.csv.gz"))
        for path in files[:chain_days]:
            shutil.copy(path, vendor / CHAIN_DIR / path.name)
        warehouse = root / "warehouse"
        (warehouse / "build").mkdir(parents=True)
        env = {
            **os.environ,
            "WAREHOUSE_DIR": str(warehouse),
            "WAREHOUSE_VENDOR_DIR": str(vendor),
            "DBT_TARGET_PATH": str(root / "target"),
            "DBT_LOG_PATH": str(root / "logs"),
            "DBT_PROFILES_DIR": str(REPO_ROOT),
        }
        return cls(root, env, first_day)

    @property
    def paths(self) -> WarehousePaths:
        return WarehousePaths(self.root / "warehouse")

    def chain_days(self) -> int:
        return len(list((self.root / "vendor" / CHAIN_DIR).glob("*.csv.gz")))

    def add_chain_day(self) -> Path:
        """Copy the next embedded chain day into the vendor folder; returns its path.

        Raises
        ------
        ValueError
            When every embedded chain day is already there.
        """
        files = chain_files()[self.first_day :]
        have = self.chain_days()
        if have >= len(files):
            raise ValueError(f"all {len(files)} embedded chain days are already in the sandbox")
        target = self.root / "vendor" / CHAIN_DIR / files[have].name
        shutil.copy(files[have], target)
        return target

    def run(self, *args: str) -> str:
        """Run a command of the product (``load`` or ``dbt ...``) in the sandbox; its stdout.

        Raises
        ------
        RuntimeError
            With the command's output when it exits non-zero.
        """
        if args[0] == "load":
            command = [sys.executable, "-m", "loaders", "load", *args[1:]]
        elif args[0] == "dbt":
            command = [str(BIN / "dbt"), *args[1:], "--no-use-colors"]
        else:
            raise ValueError(f"unknown sandbox command {args[0]!r}: expected 'load' or 'dbt'")
        done = subprocess.run(
            command, cwd=REPO_ROOT, env=self.env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed ({done.returncode}):\n"
                f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
            )
        return done.stdout


def chain_files() -> list[Path]:
    """The embedded SPX 2019 chain files, one per quote date, oldest first."""
    return sorted((VENDOR_DIR / CHAIN_DIR).glob("SPX_2019*.csv.gz"))
