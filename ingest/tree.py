"""`--tree`: where the pack's tokens went, folder by folder, so a user sees what to exclude or ask about.
Only the text is built here; the CLI prints it to stderr."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from wholerepo.ingest.render import display_path
from wholerepo.ingest.types import Mode, PackedFile


@dataclass(slots=True)
class TokenNode:
    name: str
    tokens: int = 0
    num_files: int = 0
    num_full: int = 0
    children: dict[str, TokenNode] = field(default_factory=dict)


def build_token_tree(files: Sequence[PackedFile]) -> TokenNode:
    """Sum tokens and file counts up every folder of every packed file."""
    root = TokenNode(".")
    for f in files:
        node = root
        parts = f.path.split("/")
        for part in [*parts[:-1], None]:
            node.tokens += f.tokens
            node.num_files += 1
            node.num_full += f.mode is Mode.FULL
            if part is None:
                break
            node = node.children.setdefault(part, TokenNode(part))
    return root


def format_token_tree(root: TokenNode, *, max_depth: int = 3, max_children: int = 12) -> str:
    """Folders (their files summed in), biggest first, `max_children` per folder (the rest on one line)."""
    lines = [f"{root.tokens:>12,}  {root.num_files:>6} files  ({root.num_full} full)  ./"]

    def walk(node: TokenNode, depth: int) -> None:
        folders = sorted(node.children.values(), key=lambda c: (-c.tokens, c.name))
        for child in folders[:max_children]:
            indent = "  " * depth
            lines.append(
                f"{child.tokens:>12,}  {child.num_files:>6} files  ({child.num_full} full)  "
                f"{indent}{display_path(child.name)}/"
            )
            if depth < max_depth:
                walk(child, depth + 1)
        rest = folders[max_children:]
        if rest:
            lines.append(
                f"{sum(c.tokens for c in rest):>12,}  {sum(c.num_files for c in rest):>6} files  "
                f"{'  ' * depth}… {len(rest)} more folders"
            )

    walk(root, 1)
    return "\n".join(lines) + "\n"
