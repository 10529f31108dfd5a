"""Write one benchmark's section of docs/benchmarks.md, leaving the other sections alone."""
from __future__ import annotations

import datetime
import os
import platform
import re

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS_MD = os.path.join(ROOT, 'docs', 'benchmarks.md')
HEADER = """# Benchmarks

Written by `make bench` (each section by its own script in `bench/`; re-running one script
rewrites only its section). Figures are medians of repeated runs on the machine named in each
section; compare ratios measured within one section, not absolute times across machines.
"""


def machine() -> str:
    """One line naming the machine the figures come from."""
    freq = psutil.cpu_freq()
    mhz = f', {freq.max:.0f} MHz' if freq and freq.max else ''
    return (f'{platform.machine()}, {psutil.cpu_count(logical=True)} cores{mhz}, '
            f'{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}')


def write_section(name: str, title: str, body: str, path: str = BENCHMARKS_MD) -> None:
    """Replace (or append) the section ``name`` of the benchmarks file with ``body``."""
    stamp = datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')
    section = (f'<!-- bench:{name} -->\n## {title}\n\n_Measured {stamp} on {machine()}._\n\n'
               f'{body.strip()}\n<!-- /bench:{name} -->\n')
    text = open(path, encoding='utf-8').read() if os.path.exists(path) else HEADER
    tag = re.escape(name)
    pattern = re.compile(rf'<!-- bench:{tag} -->.*?<!-- /bench:{tag} -->\n', re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip('\n') + '\n\n' + section
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)


def markdown_table(header: list[str], rows: list[list]) -> str:
    def cell(v) -> str:
        if isinstance(v, float):
            return f'{v:.4g}'
        return str(v)
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(cell(v) for v in row) + ' |' for row in rows]
    return '\n'.join(lines)
