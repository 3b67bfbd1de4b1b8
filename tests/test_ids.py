"""Ids sort in the order they were made, in one process and across a fork."""

from __future__ import annotations

import os
import re

from margin._ids import new_id, new_ids

_SHAPE = re.compile(r"^crl_[0-9a-f]{11}[0-9a-f]{20}$")


def test_ids_made_one_after_another_sort_in_that_order() -> None:
    made = [new_id("crl") for _ in range(2000)]
    made += new_ids("crl", 500)
    made.append(new_id("crl"))
    assert all(_SHAPE.match(i) for i in made)
    assert len(set(made)) == len(made) == 2501
    assert sorted(made) == made


def test_a_forked_child_makes_none_of_its_parents_ids() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read)
        os.write(write, "\n".join(new_ids("crl", 200)).encode())
        os._exit(0)
    os.close(write)
    parents = set(new_ids("crl", 200))
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    childs = set(b"".join(chunks).decode().split("\n"))
    assert len(childs) == 200
    assert not parents & childs
