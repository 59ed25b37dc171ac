"""On-chain *proxies*: MVRV-, NVT- and exchange-flow-like series computed from price and volume.

These are not on-chain data: no blockchain is read. Each ``*_proxy`` imitates the idea of an
on-chain metric with exchange bars only (see each description).
"""

from __future__ import annotations
