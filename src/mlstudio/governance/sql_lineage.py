"""Static column lineage of a SQL query (DuckDB dialect), for classification propagation.

:func:`sql_column_lineage` parses a single SELECT with sqlglot, qualifies it against the known
input schemas (which resolves unqualified columns and expands ``*`` / ``t.*``), and walks each
output expression through CTEs, derived tables, scalar subqueries and set operations down to
input-table columns. Each output column gets its sources and a kind:

``identity``
    a plain column, a rename, or a ``CAST`` of one.
``transformation``
    anything else computed from sources: functions, ``CASE`` (condition columns count as
    sources), ``CONCAT`` / ``||``, arithmetic, ``COALESCE``, window functions (partition and
    order columns count as sources). Unknown functions are never assumed to mask.
``masking``
    every path from every source goes through a hash function (``md5``, ``sha1``, ``sha256``,
    ``sha2``, ``hash``, ...). ``CONCAT(sha256(email), email)`` is a transformation of ``email``.
``aggregation``
    the value goes through an aggregate (``SUM``, ``AVG``, ``COUNT(col)``, ...).
``dataset``
    the value has no source column (``COUNT(*)``, literals, ``row_number()``) or involves a
    ``COUNT(*)``: it inherits the dataset-level union of the tables in ``dataset_tables``. For a
    ``COUNT(*)`` (or an aggregate of literals) those are the tables its own SELECT reads,
    through CTEs and derived tables; for a value with no source at all, every table the query
    reads.
``coarse``
    lineage is unknown: the column derives from every input column.

Columns that only appear in ``WHERE``, ``JOIN ... ON``, ``GROUP BY``, ``HAVING``, ``QUALIFY`` or
``ORDER BY`` are *indirect* lineage; they influence which rows appear but are deliberately not
propagated as per-column sources (``CASE`` conditions are inside the value, so they are).

Set operations pair columns by position, except ``UNION [ALL] BY NAME``, which pairs them by
name (case-insensitively; the left side's columns, then the right side's new ones).
``COLUMNS(...)`` and positional ``#n`` references are first rewritten into the columns they
stand for (:mod:`mlstudio.governance.sql_expand`).

A query that does not parse, reads a table that is not in ``schemas`` (including table
functions such as ``read_parquet`` and schema-qualified names such as ``main.t``), references an
unknown column, uses ``WITH RECURSIVE``, ``PIVOT``/``UNPIVOT``, ``DESCRIBE``/``SUMMARIZE``, a
``COLUMNS`` that cannot be expanded statically, or a ``*`` over a ``BY NAME`` set operation
falls back to coarse lineage for the whole query (``SqlLineage.coarse``). Fail-closed, never
fail-open; :func:`~mlstudio.governance.propagation.propagate_sql` also falls back when DuckDB's
result columns disagree with the analysis (their number, or a ``named`` column's name).

Output names are the aliases / column names as written; an unaliased expression is named by
its SQL text, which may differ from the name DuckDB gives it (``propagate_sql`` can map the
real result names by position).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope
from sqlglot.schema import MappingSchema

from mlstudio.errors import InvalidInputError, MlstudioError
from mlstudio.governance.sql_expand import expand_implicit_columns, has_implicit_columns

DIALECT = "duckdb"
KINDS = ("identity", "transformation", "masking", "aggregation", "dataset", "coarse")

_IDENTITY, _TRANSFORMATION, _AGGREGATION = 0, 1, 2
_DIRECT, _MASKED = 1, 2

_HASH_CLASS_NAMES = (
    "MD5",
    "MD5Digest",
    "MD5NumberLower64",
    "MD5NumberUpper64",
    "SHA",
    "SHA1Digest",
    "SHA2",
    "SHA2Digest",
    "StandardHash",
    "CityHash64",
)
_HASH_TYPES: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name) for name in _HASH_CLASS_NAMES if hasattr(exp, name)
)
_HASH_NAMES = frozenset(
    {
        "hash",
        "md5",
        "md5_number",
        "md5_number_lower",
        "md5_number_upper",
        "sha1",
        "sha2",
        "sha224",
        "sha256",
        "sha384",
        "sha512",
        "xxhash32",
        "xxhash64",
        "xxh3_64",
        "murmur3",
        "murmurhash3",
        "murmurhash64",
        "crc32",
        "farm_fingerprint",
        "fnv_hash",
        "cityhash64",
        "standard_hash",
    }
)
_DUCKDB_SELECTS = frozenset({"PIVOT", "UNPIVOT", "DESCRIBE", "SUMMARIZE", "SHOW"})
# statements DuckDB runs as SELECTs that sqlglot does not parse as queries
_COARSE_STATEMENTS: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name) for name in ("Pivot", "Describe", "Summarize", "Show") if hasattr(exp, name)
)
_AUTO_ALIAS = re.compile(r"_col_\d+")
_NON_QUERY_HINT = "an SQL task's body must be one SELECT (WITH ... SELECT and UNION are fine)"


@dataclass(frozen=True, slots=True)
class ColumnSource:
    """One input column: ``table`` is the key used in ``schemas``."""

    table: str
    column: str

    def __str__(self) -> str:
        return f"{self.table}.{self.column}"


@dataclass(frozen=True, slots=True)
class OutputColumnLineage:
    """Where one output column comes from, and how (``kind``, one of :data:`KINDS`).

    ``masked_sources`` are the sources reached only through a hash. ``dataset_tables`` (kind
    ``dataset`` only) are the tables whose dataset-level union the column inherits. ``named``
    says the name is a column name or an alias, so DuckDB gives the result column the same
    name (callers check it); an unaliased expression's name is only its SQL text.
    """

    name: str
    sources: tuple[ColumnSource, ...]
    kind: str
    masked_sources: tuple[ColumnSource, ...] = ()
    dataset_tables: tuple[str, ...] = ()
    named: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class SqlLineage:
    """Lineage of every output column, in output order."""

    columns: tuple[OutputColumnLineage, ...]
    tables: tuple[str, ...]
    coarse: bool = False
    reason: str | None = None

    def column(self, name: str) -> OutputColumnLineage:
        """The lineage of output column ``name`` (first one, if the name repeats)."""
        for col in self.columns:
            if col.name == name:
                return col
        raise InvalidInputError(
            f"the query has no output column {name!r}",
            hint=f"output columns are: {', '.join(c.name for c in self.columns) or '(none)'}",
        )


def sql_column_lineage(sql: str, schemas: Mapping[str, Sequence[str]]) -> SqlLineage:
    """Column lineage of ``sql`` against ``schemas`` (input table -> ordered column names).

    Raises :class:`InvalidInputError` for SQL that is not a single SELECT query (``INSERT``,
    ``CREATE``, several statements, ...); every other problem yields coarse lineage.
    """
    if not isinstance(sql, str):
        raise InvalidInputError(f"SQL must be a string, got {type(sql).__name__}")
    tables, columns = _normalized_schemas(schemas)
    try:
        statements = [s for s in sqlglot.parse(sql, read=DIALECT) if s is not None]
    except SqlglotError as exc:
        return _coarse(schemas, [], f"could not parse the SQL: {_first_line(exc)}")
    if not statements:
        raise InvalidInputError("the SQL is empty", hint=_NON_QUERY_HINT)
    if len(statements) > 1:
        raise InvalidInputError(
            f"only SELECT queries can be analysed; got {len(statements)} statements",
            hint=_NON_QUERY_HINT,
        )
    root = statements[0]
    if isinstance(root, _COARSE_STATEMENTS) or (
        isinstance(root, exp.Command) and str(root.this).upper() in _DUCKDB_SELECTS
    ):
        return _coarse(schemas, [], f"{root.key.upper()} is analysed coarsely")
    if not isinstance(root, exp.Query):
        kind = root.key.upper() if root.key else type(root).__name__
        raise InvalidInputError(
            f"only SELECT queries can be analysed; got {kind}", hint=_NON_QUERY_HINT
        )
    coarse_reason = _coarse_construct(root)
    if coarse_reason is not None:
        scanned, _ = _scanned_tables(root, tables)
        return _coarse(schemas, [], coarse_reason, scanned)
    if has_implicit_columns(root):
        try:
            spelling = _spelling(root, columns)
            schema = _mapping_schema(tables, columns)
            root = expand_implicit_columns(root, schema, DIALECT, spelling)
        except Exception as exc:  # Unresolvable, or sqlglot could not qualify: fail closed
            scanned, _ = _scanned_tables(root, tables)
            return _coarse(schemas, [], f"could not expand {_first_line(exc)}", scanned)

    written_names = _written_names(root)
    aliases = _written_aliases(root)
    scanned, unknown = _scanned_tables(root, tables)
    if unknown:
        return _coarse(
            schemas, written_names or [], f"the query reads unknown table {unknown}", scanned
        )
    recursive = any(with_.args.get("recursive") for with_ in root.find_all(exp.With))
    try:
        qualified = qualify(
            root,
            dialect=DIALECT,
            schema=_mapping_schema(tables, columns),
            validate_qualify_columns=True,
            quote_identifiers=False,
            identify=False,
        )
        root_scope = build_scope(qualified)
        if root_scope is None:
            return _coarse(schemas, written_names or [], "the query has no scope", scanned)
        analyzer = _Analyzer(root_scope, tables, columns, schemas)
        if recursive:
            names = analyzer.output_names(written_names, aliases)
            return _coarse(schemas, names or [], "recursive CTEs are analysed coarsely", scanned)
        return analyzer.lineage(written_names, aliases, scanned)
    except MlstudioError:
        raise
    except Exception as exc:  # fail closed: any analysis failure means coarse lineage
        return _coarse(
            schemas,
            written_names or [],
            f"could not resolve column lineage: {_first_line(exc)}",
            scanned,
        )


# --- analysis -----------------------------------------------------------------------------------
@dataclass(slots=True)
class _Lin:
    """Lineage of one expression while walking: source -> path flags, plus summary flags."""

    edges: dict[tuple[str, str], int] = field(default_factory=dict)
    op: int = _IDENTITY
    dataset: bool = False
    dataset_tables: set[str] = field(default_factory=set)
    coarse: bool = False

    def absorb(self, other: _Lin, masked: bool) -> None:
        edges = self.edges
        if masked:
            for key in other.edges:
                edges[key] = edges.get(key, 0) | _MASKED
        else:
            for key, flags in other.edges.items():
                edges[key] = edges.get(key, 0) | flags
        if other.op > self.op:
            self.op = other.op
        if other.dataset:
            self.dataset = True
            self.dataset_tables |= other.dataset_tables
        self.coarse = self.coarse or other.coarse


_COARSE_LIN = _Lin(coarse=True)


class _Analyzer:
    """Resolves output columns of sqlglot scopes to input-table columns, with memoisation."""

    def __init__(
        self,
        root: Scope,
        tables: Mapping[str, str],
        columns: Mapping[str, Mapping[str, str]],
        schemas: Mapping[str, Sequence[str]],
    ) -> None:
        self.root = root
        self.tables = tables
        self.columns = columns
        self.schemas = schemas
        self.scopes = {id(s.expression): s for s in root.traverse()}
        self.memo: dict[tuple[int, int], _Lin] = {}
        self.scanned: dict[int, set[str] | None] = {}
        self.leaves: dict[tuple[str, str], _Lin] = {}

    def lineage(
        self,
        written_names: list[str] | None,
        aliases: Mapping[str, str],
        scanned: tuple[str, ...],
    ) -> SqlLineage:
        names = self.output_names(written_names, aliases)
        if names is None:
            return _coarse(self.schemas, [], "could not expand * with the known schemas", scanned)
        every: tuple[ColumnSource, ...] | None = None
        out: list[OutputColumnLineage] = []
        for index, name in enumerate(names):
            lin = self.position(self.root, index)
            if lin.coarse:
                if every is None:
                    every = _all_sources(self.schemas)
                out.append(OutputColumnLineage(name, every, "coarse"))
                continue
            sources = tuple(ColumnSource(t, c) for t, c in lin.edges)
            masked = tuple(
                ColumnSource(t, c) for (t, c), flags in lin.edges.items() if not flags & _DIRECT
            )
            dataset_tables: tuple[str, ...] = ()
            if lin.dataset or not sources:
                kind = "dataset"
                reads = lin.dataset_tables if lin.dataset else self.reads(self.root)
                dataset_tables = tuple(t for t in scanned if t in reads)
            elif lin.op == _AGGREGATION:
                kind = "aggregation"
            elif len(masked) == len(sources):
                kind = "masking"
            elif lin.op == _TRANSFORMATION:
                kind = "transformation"
            else:
                kind = "identity"
            out.append(
                OutputColumnLineage(
                    name, sources, kind, masked, dataset_tables, named=self.named(index)
                )
            )
        return SqlLineage(tuple(out), scanned)

    def output_names(
        self, written_names: list[str] | None, aliases: Mapping[str, str]
    ) -> list[str] | None:
        """Names of the root's output columns, or ``None`` if a ``*`` could not be expanded."""
        root_expr = self.root.expression
        if not isinstance(root_expr, exp.Query) or _has_any_star(root_expr):
            return None
        names = self.names(self.root)
        if names is None:
            return None
        by_name = isinstance(root_expr, exp.SetOperation) and root_expr.args.get("by_name")
        if not by_name and written_names is not None and len(written_names) == len(names):
            return written_names
        return self._restore_case(names, aliases)

    def named(self, index: int) -> bool:
        """Whether output ``index`` is a column name or an alias (not an expression's text)."""
        names = self.names(self.root) or []
        return index < len(names) and not _AUTO_ALIAS.fullmatch(names[index])

    def _restore_case(self, names: list[str], aliases: Mapping[str, str]) -> list[str]:
        """Undo sqlglot's lower-casing of output names: written aliases, then schema spelling."""
        spelled: dict[str, str] = dict(aliases)
        for cols in self.columns.values():
            for lowered, original in cols.items():
                spelled.setdefault(lowered, original)
        return [spelled.get(name, name) for name in names]

    # -- scopes --------------------------------------------------------------------------------
    def position(self, scope: Scope, index: int) -> _Lin:
        """Lineage of the ``index``-th output column of ``scope``."""
        key = (id(scope), index)
        cached = self.memo.get(key)
        if cached is not None:
            return cached
        self.memo[key] = _COARSE_LIN  # breaks cycles (recursive CTEs) fail-closed
        expression = scope.expression
        if isinstance(expression, exp.SetOperation):
            lin = _Lin()
            branches = scope.set_operation_scopes
            if len(branches) < 2:
                lin.coarse = True
            if expression.args.get("by_name"):
                self._by_name(scope, index, lin)
            else:
                for branch in branches:
                    lin.absorb(self.position(branch, index), masked=False)
        elif isinstance(expression, exp.Select):
            selects = expression.selects
            if index >= len(selects):
                lin = _COARSE_LIN
            else:
                lin = self.expression(scope, selects[index])
        else:
            lin = _COARSE_LIN
        self.memo[key] = lin
        return lin

    def _by_name(self, scope: Scope, index: int, lin: _Lin) -> None:
        """``UNION [ALL] BY NAME``: output ``index`` is each branch's column of the same name
        (case-insensitive); a branch without it contributes NULLs."""
        names = self.names(scope)
        if names is None or index >= len(names):
            lin.coarse = True
            return
        wanted = names[index].lower()
        found = False
        for branch in scope.set_operation_scopes:
            branch_names = [n.lower() for n in self.names(branch) or []]
            if branch_names.count(wanted) > 1:
                lin.coarse = True
                return
            if wanted in branch_names:
                found = True
                lin.absorb(self.position(branch, branch_names.index(wanted)), masked=False)
        if not found:
            lin.coarse = True

    def names(self, scope: Scope) -> list[str] | None:
        """Output column names of a scope as DuckDB pairs them: a SELECT's projections, a set
        operation's left side, or for ``BY NAME`` the left side's then the right side's new
        names. ``None`` when a name is not knowable (an unnamed expression under BY NAME)."""
        expression = scope.expression
        if isinstance(expression, exp.SetOperation):
            branches = scope.set_operation_scopes
            if not branches:
                return None
            left = self.names(branches[0])
            if not expression.args.get("by_name"):
                return left
            right = self.names(branches[-1]) if len(branches) > 1 else []
            if left is None or right is None:
                return None
            if any(_AUTO_ALIAS.fullmatch(n) for n in (*left, *right)):
                return None  # DuckDB names it by its SQL text, which we cannot reproduce
            seen = {n.lower() for n in left}
            return [*left, *(n for n in right if n.lower() not in seen)]
        if isinstance(expression, exp.Query):
            return list(expression.named_selects)
        return None

    def reads(self, scope: Scope) -> set[str]:
        """Input tables a scope reads in FROM / JOIN, through CTEs and derived tables."""
        key = id(scope)
        if key in self.scanned:
            return self.scanned[key] or set()
        self.scanned[key] = None  # cycle guard
        found: set[str] = set()
        for _, source in scope.selected_sources.values():
            if isinstance(source, exp.Table):
                table = self.tables.get(source.name)
                if table is not None:
                    found.add(table)
            else:
                found |= self.reads(source)
        for branch in scope.set_operation_scopes:
            found |= self.reads(branch)
        self.scanned[key] = found
        return found

    def udtf(self, scope: Scope) -> _Lin:
        """Any column of a table function (``UNNEST(...)``, ``VALUES``): all of its inputs."""
        key = (id(scope), -1)
        cached = self.memo.get(key)
        if cached is not None:
            return cached
        self.memo[key] = _COARSE_LIN
        lin = _Lin(op=_TRANSFORMATION)
        for child in scope.expression.iter_expressions():
            self._walk(scope, child, False, lin)
        self.memo[key] = lin
        return lin

    def expression(self, scope: Scope, projection: exp.Expression) -> _Lin:
        """Lineage of one projection of a SELECT."""
        node = projection.this if isinstance(projection, exp.Alias) else projection
        lin = _Lin()
        if isinstance(node, exp.Star):
            lin.coarse = True
            return lin
        self._walk(scope, node, False, lin)
        if not _is_plain_column(node) and lin.op < _TRANSFORMATION:
            lin.op = _TRANSFORMATION
        return lin

    def resolve(self, scope: Scope, alias: str, name: str) -> _Lin | None:
        """Lineage of column ``alias.name`` as seen from ``scope`` (``None`` if unknown)."""
        current: Scope | None = scope
        source: exp.Table | Scope | None = None
        while current is not None:
            source = current.sources.get(alias)
            if source is not None:
                break
            current = current.parent
        if source is None:
            return None
        if isinstance(source, exp.Table):
            table = self.tables.get(source.name)
            column = self.columns.get(table, {}).get(name) if table is not None else None
            if table is None or column is None:
                return None
            leaf_key = (table, column)
            leaf = self.leaves.get(leaf_key)
            if leaf is None:
                leaf = self.leaves[leaf_key] = _Lin({leaf_key: _DIRECT})
            return leaf
        if source.is_udtf:
            return self.udtf(source)
        names = self.names(source) or []
        if name not in names:
            return None
        return self.position(source, names.index(name))

    def _walk(self, scope: Scope, node: exp.Expression, masked: bool, acc: _Lin) -> None:
        if isinstance(node, exp.Column):
            if isinstance(node.this, exp.Star):
                acc.coarse = True
                return
            resolved = self.resolve(scope, node.table, node.name) if node.table else None
            if resolved is None:
                acc.coarse = True
            else:
                acc.absorb(resolved, masked)
            return
        if isinstance(node, exp.Subquery) and isinstance(node.this, exp.Query):
            node = node.this
        if isinstance(node, exp.Query):
            sub = self.scopes.get(id(node))
            if sub is None:
                acc.coarse = True
                return
            for index in range(len(node.named_selects)):
                acc.absorb(self.position(sub, index), masked)
            return
        if isinstance(node, exp.Star):
            acc.dataset = True
            acc.dataset_tables |= self.reads(scope)
            return
        if isinstance(node, exp.AggFunc):
            inner = _Lin(op=_AGGREGATION)
            for child in node.iter_expressions():
                self._walk(scope, child, masked, inner)
            if not inner.edges and not inner.coarse:
                inner.dataset = True
                inner.dataset_tables |= self.reads(scope)
            acc.absorb(inner, masked=False)
            return
        hashed = masked or _is_hash(node)
        for child in node.iter_expressions():
            self._walk(scope, child, hashed, acc)


def _is_hash(node: exp.Expression) -> bool:
    if isinstance(node, _HASH_TYPES):
        return True
    return isinstance(node, exp.Anonymous) and str(node.name).lower() in _HASH_NAMES


def _is_plain_column(node: exp.Expression) -> bool:
    while isinstance(node, (exp.Paren, exp.Cast, exp.TryCast)):
        node = node.this
    return isinstance(node, exp.Column)


def _has_star(query: exp.Query) -> bool:
    select = _leftmost_select(query)
    return select is not None and any(_is_star(p) for p in select.selects)


def _coarse_construct(root: exp.Expression) -> str | None:
    """Why a construct anywhere in the query is analysed coarsely (``None``: none is)."""
    if any(True for _ in root.find_all(exp.Pivot)):
        return "PIVOT/UNPIVOT is analysed coarsely"
    by_name = [node for node in root.find_all(exp.SetOperation) if node.args.get("by_name")]
    if by_name and any(node is not root for node in by_name) and _has_any_star(root):
        # sqlglot expands a * over a BY NAME set operation with its left side's columns only
        return "a * over a BY NAME set operation is analysed coarsely"
    return None


def _has_any_star(root: exp.Expression) -> bool:
    return any(_is_star(p) for select in root.find_all(exp.Select) for p in select.expressions)


def _is_star(projection: exp.Expression) -> bool:
    return isinstance(projection, exp.Star) or (
        isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
    )


def _leftmost_select(query: exp.Expression) -> exp.Select | None:
    node = query
    while True:
        if isinstance(node, (exp.SetOperation, exp.Subquery)):
            node = node.this
        else:
            break
    return node if isinstance(node, exp.Select) else None


def _written_names(root: exp.Expression) -> list[str] | None:
    """Output names as written in the query, or ``None`` when a star hides them."""
    select = _leftmost_select(root)
    if select is None:
        return None
    names: list[str] = []
    for projection in select.selects:
        if _is_star(projection):
            return None
        if isinstance(projection, (exp.Alias, exp.Column)) and projection.alias_or_name:
            names.append(projection.alias_or_name)
        else:
            names.append(projection.sql(dialect=DIALECT))
    return names


def _written_aliases(root: exp.Expression) -> dict[str, str]:
    """Lower-cased output alias -> alias as written (sqlglot lower-cases DuckDB identifiers)."""
    aliases: dict[str, str] = {}
    for select in root.find_all(exp.Select):
        for p in select.selects:
            if isinstance(p, exp.Alias) and p.alias:
                aliases.setdefault(p.alias.lower(), p.alias)
    leftmost = _leftmost_select(root)
    for p in leftmost.selects if leftmost is not None else []:
        if isinstance(p, exp.Alias) and p.alias:
            aliases[p.alias.lower()] = p.alias  # the left side's spelling wins, as in DuckDB
    return aliases


def _spelling(root: exp.Expression, columns: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """Lower-cased name -> spelling, from the schemas then the query's aliases (first wins)."""
    spelled: dict[str, str] = {}
    for cols in columns.values():
        for lowered, original in cols.items():
            spelled.setdefault(lowered, original)
    for alias in root.find_all(exp.Alias):
        if alias.alias:
            spelled.setdefault(alias.alias.lower(), alias.alias)
    return spelled


def _scanned_tables(
    root: exp.Expression, tables: Mapping[str, str]
) -> tuple[tuple[str, ...], str | None]:
    """Known input tables the query reads (in order) and the first unknown table, if any."""
    ctes = {cte.alias_or_name.lower() for cte in root.find_all(exp.CTE)}
    scanned: dict[str, None] = {}
    unknown: str | None = None
    for table in root.find_all(exp.Table, bfs=False):
        if not isinstance(table.this, exp.Identifier):
            unknown = unknown or table.sql(dialect=DIALECT)
            continue
        name = table.name.lower()
        qualified = table.args.get("db") or table.args.get("catalog")
        if not qualified and name in ctes:
            continue
        original = None if qualified else tables.get(name)
        if original is None:
            unknown = unknown or table.sql(dialect=DIALECT)
        else:
            scanned[original] = None
    return tuple(scanned), unknown


def _normalized_schemas(
    schemas: Mapping[str, Sequence[str]],
) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Lower-cased table and column names (DuckDB is case-insensitive) -> original spelling."""
    if not isinstance(schemas, Mapping):
        raise InvalidInputError(
            "schemas must map table names to column names",
            hint='pass {"customers": ["id", "email"]}',
        )
    tables: dict[str, str] = {}
    columns: dict[str, dict[str, str]] = {}
    for table, cols in schemas.items():
        if not isinstance(table, str) or not table:
            raise InvalidInputError(f"invalid table name {table!r} in schemas")
        if isinstance(cols, str):
            raise InvalidInputError(
                f"columns of table {table!r} must be a list of names, got a string"
            )
        lowered = table.lower()
        if lowered in tables:
            raise InvalidInputError(
                f"tables {tables[lowered]!r} and {table!r} differ only in case",
                hint="SQL table names are case-insensitive; rename one input",
            )
        tables[lowered] = table
        mapping: dict[str, str] = {}
        for col in cols:
            if not isinstance(col, str) or not col:
                raise InvalidInputError(f"invalid column name {col!r} in table {table!r}")
            mapping.setdefault(col.lower(), col)
        columns[table] = mapping
    return tables, columns


def _mapping_schema(
    tables: Mapping[str, str], columns: Mapping[str, Mapping[str, str]]
) -> MappingSchema:
    schema = MappingSchema(dialect=DIALECT)
    for lowered, original in tables.items():
        schema.add_table(
            exp.Table(this=exp.to_identifier(lowered, quoted=True)),
            dict.fromkeys(columns[original], "unknown"),
            dialect=DIALECT,
        )
    return schema


def _all_sources(schemas: Mapping[str, Sequence[str]]) -> tuple[ColumnSource, ...]:
    return tuple(ColumnSource(t, c) for t, cols in schemas.items() for c in cols)


def _coarse(
    schemas: Mapping[str, Sequence[str]],
    names: Sequence[str],
    reason: str,
    scanned: tuple[str, ...] | None = None,
) -> SqlLineage:
    """Every output column derives from every input column of every known table."""
    every = _all_sources(schemas)
    return SqlLineage(
        columns=tuple(OutputColumnLineage(name, every, "coarse") for name in names),
        tables=tuple(schemas) if scanned is None else scanned,
        coarse=True,
        reason=reason,
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
