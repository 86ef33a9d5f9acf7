"""The vocabulary of a synthetic world, shaped like the bundled CRM dataset (names, sectors, products).

Kept apart from the generator so the generator reads as the statistical model it is.
"""

from __future__ import annotations

import numpy as np

# products.csv of the bundled data, verbatim: a world sells the same catalogue.
PRODUCTS: tuple[tuple[str, str, int], ...] = (
    ("GTX Basic", "GTX", 550),
    ("GTX Pro", "GTX", 4821),
    ("MG Special", "MG", 55),
    ("MG Advanced", "MG", 3393),
    ("GTX Plus Pro", "GTX", 5482),
    ("GTX Plus Basic", "GTX", 1096),
    ("GTK 500", "GTK", 26768),
)
# Share of opportunities per product in the bundled pipeline (GTK 500 is rare there too).
PRODUCT_SHARES: tuple[float, ...] = (0.212, 0.168, 0.188, 0.160, 0.110, 0.157, 0.005)
SERIES: tuple[str, ...] = ("GTX", "MG", "GTK")

# Sectors with the bundled account counts as weights; "technology" spelt right (the bundled file has a typo
# that the cleaning step is expected to repair, a world need not reproduce it).
SECTORS: tuple[str, ...] = (
    "retail", "technology", "medical", "marketing", "finance",
    "software", "entertainment", "telecommunications", "services", "employment",
)  # fmt: skip
SECTOR_WEIGHTS: tuple[float, ...] = (17, 12, 12, 8, 8, 7, 6, 6, 5, 4)

REGIONS: tuple[str, ...] = ("Central", "East", "West")
BUNDLED_MANAGERS: tuple[str, ...] = (
    "Dustin Brinkmann", "Melvin Marxen", "Cara Losch", "Rocco Neubert", "Celia Rouche", "Summer Sewald",
)  # fmt: skip

FOREIGN_OFFICES: tuple[str, ...] = (
    "Kenya", "Philippines", "Japan", "Italy", "Norway", "Korea", "Jordan", "Brazil", "Germany", "Panama",
    "Belgium", "Romania", "Poland", "China",
)  # fmt: skip

_FIRST = (
    "Anna", "Cecily", "Versie", "Lajuana", "Moses", "Jonathan", "Marty", "Gladys", "Niesha", "Darcel",
    "Violet", "Corliss", "Rosie", "Garret", "Wilburn", "Elizabeth", "Daniell", "Cassey", "Donn", "Reed",
    "Boris", "Natalya", "Vicki", "Rosalina", "Hayden", "Markita", "Elease", "Carol", "James", "Kary",
    "Kami", "Zane", "Maureen", "Carl", "Lorena", "Tobias", "Imelda", "Quentin", "Odessa", "Bertram",
)  # fmt: skip
_LAST = (
    "Snelling", "Lampkin", "Hillebrand", "Vencill", "Frase", "Berthelot", "Freudenburg", "Colclough",
    "Huffines", "Schlecht", "Johns", "Mclelland", "Cosme", "Papadopoulos", "Kinder", "Farren", "Anderson",
    "Hammack", "Cress", "Cantrell", "Clapper", "Faz", "Ivanova", "Laflamme", "Dieter", "Neloms", "Hansen",
    "Gluck", "Thompson", "Ascencio", "Hendrixson", "Bicknell", "Levy", "Marcano", "Lin", "Okafor",
    "Brandvold", "Quimby", "Ostrander", "Pelletier",
)  # fmt: skip
_ACCOUNT_HEADS = (
    "Acme", "Beta", "Bio", "Black", "Blue", "Can", "Code", "Con", "Dalt", "Dom", "Don", "Fase", "Fax",
    "Fin", "Fun", "Gan", "Gold", "Good", "Green", "Groove", "Hat", "Hot", "Ini", "Iso", "Kan", "Kin",
    "Kon", "Lab", "Lexi", "Math", "Nam", "New", "Onto", "Open", "Plex", "Plus", "Ran", "Ron", "Rundo",
    "Scot", "Sil", "Single", "Son", "Stan", "Stat", "Street", "Sum", "Sun", "Tough", "Tree", "Ware",
    "Xx", "Year", "Zath", "Zen", "Zoom", "Zot", "Zum",
)  # fmt: skip
_ACCOUNT_TAILS = (
    "tech", "soloin", "holding", "plex", "zim", "city", "how", "dax", "com", "zoom", "con", "quadtech",
    "techi", "ware", "hatice", "quote", "high", "job", "flex", "dex", "silron", "fan", "ity", "dom",
    "electrics", "code", "amplus", "ex", "matfix", "drill", "touch", "media", "zap", "strip", "sunin",
    "green", "fase", "find", "techno", "redtax", "holdings", "hex", "ace", "phase", "zobam", "in",
    "unicon", "corporation", "it", "goity",
)  # fmt: skip
_ACCOUNT_FORMS = ("", " Corporation", " Group", " & Co", " Partners", " Company", " Labs", " Systems")


def rep_names(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct "First Last" names (1,600 combinations, then a numbered suffix)."""
    pool = [f"{first} {last}" for last in _LAST for first in _FIRST]
    return _draw_distinct(pool, n, rng)


def manager_names(n: int, rng: np.random.Generator) -> list[str]:
    """The bundled six managers first, then generated names for larger teams."""
    if n <= len(BUNDLED_MANAGERS):
        return list(BUNDLED_MANAGERS[:n])
    taken = set(BUNDLED_MANAGERS)
    extra = [name for name in rep_names(n + len(taken), rng) if name not in taken]
    return list(BUNDLED_MANAGERS) + extra[: n - len(BUNDLED_MANAGERS)]


def account_names(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct company names built like the bundled ones ("Donware", "Zoomit", "Kan-code")."""
    pool = [
        f"{head}{'-' if head[-1] == tail[0] else ''}{tail}{form}"
        for form in _ACCOUNT_FORMS
        for head in _ACCOUNT_HEADS
        for tail in _ACCOUNT_TAILS
    ]
    return _draw_distinct(pool, n, rng)


def _draw_distinct(pool: list[str], n: int, rng: np.random.Generator) -> list[str]:
    unique = list(dict.fromkeys(pool))
    order = rng.permutation(len(unique))
    names = [unique[i] for i in order[: min(n, len(unique))]]
    # Beyond the pool, number the names: still distinct, still readable.
    names += [f"{unique[order[i % len(unique)]]} {i // len(unique) + 1}" for i in range(len(unique), n)]
    return names
