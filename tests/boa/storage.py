"""Reads a deployed contract's storage words directly, by the compiler's layout.

A stateful step checks every stored value of the market against the reference;
asking the EVM through a getter per value costs a message call each, reading the
word costs a dictionary look-up. Getters and their decoding are tested on their
own elsewhere; the per-step check wants the stored state itself.
"""

import boa
from eth_utils import keccak

WORD = 2**256


def _slots(layout: dict, prefix: str = "") -> dict[str, int]:
    """Flattens Vyper 0.4's nested layout: {"ledger": {"surplus": {"slot": 10}}}
    becomes {"ledger.surplus": 10}."""
    slots = {}
    for name, entry in layout.items():
        if "slot" in entry and "type" in entry:
            slots[prefix + name] = entry["slot"]
        else:
            slots.update(_slots(entry, f"{prefix}{name}."))
    return slots


def signed(word: int) -> int:
    return word - WORD if word >= WORD // 2 else word


class Storage:
    def __init__(self, contract):
        self.address = boa.environment.Address(contract.address)
        self.slots = _slots(contract.compiler_data.storage_layout["storage_layout"])

    def slot(self, name: str, *keys: str) -> int:
        """A variable's slot; for a HashMap entry, Vyper's keccak256(slot ++ key)."""
        slot = self.slots[name]
        for key in keys:
            key_word = int(key, 16).to_bytes(32, "big")
            slot = int.from_bytes(keccak(slot.to_bytes(32, "big") + key_word), "big")
        return slot

    def word(self, name: str, *keys: str, member: int = 0) -> int:
        """The unsigned word of a variable, a HashMap entry, or a member of a stored struct."""
        return boa.env.evm.get_storage(self.address, self.slot(name, *keys) + member)

    def int(self, name: str, *keys: str, member: int = 0) -> int:
        return signed(self.word(name, *keys, member=member))
