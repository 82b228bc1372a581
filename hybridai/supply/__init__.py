"""The supply chain: the pinned charts fetched and verified into a local cache (`charts`), where
the charts' reference data is read from (`reference`), the registries' protocol through one HTTP
client and oras-py (`transport`) — docs/supply-chain.md, docs/design/supply-chain.md."""
