"""Validation of user-supplied SQL fragments (``where_expr``, ``select``) before they reach the engine.

The approach is an allow-list over the sqlglot syntax tree (dialect duckdb): anything that is not a known
column, a literal, a simple predicate or ``lower(column)`` is rejected, so functions (``read_parquet``, ``getenv``...),
subqueries, casts and arithmetic cannot reach DuckDB whatever their spelling. The returned SQL is regenerated
from the tree, never the user's text, with columns quoted in the dataset's own casing and ordered-bucket
comparisons (score, company_employee_count) rewritten into ``IN`` lists.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from audiences.engine.buckets import SCORES, BucketError, employee_buckets_in_range, score_buckets

DIALECT = "duckdb"
MAX_LENGTH = 10_000
# sqlglot parses and prints recursively, ~20 Python frames per parenthesis: 45 levels exhausted the
# interpreter's stack (a RecursionError, a 500). No real filter nests this deep.
MAX_NESTING = 20
TOO_DEEP = "the filter expression is nested too deeply"


class UnsafeExpression(ValueError):
    """User SQL that is not allowed; ``offending`` is the part that was refused (SQL text or token)."""

    def __init__(self, message: str, offending: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.offending = offending


_COMPARISONS: dict[type[exp.Expression], str] = {
    exp.EQ: "=",
    exp.NEQ: "!=",
    exp.LT: "<",
    exp.LTE: "<=",
    exp.GT: ">",
    exp.GTE: ">=",
}
_FLIPPED = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_ALLOWED = (
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.And,
    exp.Or,
    exp.Not,
    exp.Paren,
    exp.In,
    exp.Between,
    exp.Like,
    exp.ILike,
    exp.Is,
    exp.Neg,
    exp.Lower,
    *_COMPARISONS,
)
_ORDERED_COLUMNS = ("score", "company_employee_count")


def _describe(node: exp.Expression) -> str:
    """A short name for why ``node`` is refused, used at the start of the error message."""
    if isinstance(node, exp.Subquery | exp.Select | exp.Query):
        return "subquery"
    if isinstance(node, exp.Star):
        return "star (*)"
    if isinstance(node, exp.Cast | exp.TryCast | exp.DataType):
        return "cast"
    if isinstance(node, exp.Binary) and isinstance(
        node,
        exp.Add
        | exp.Sub
        | exp.Mul
        | exp.Div
        | exp.Mod
        | exp.IntDiv
        | exp.Pow
        | exp.DPipe
        | exp.BitwiseAnd
        | exp.BitwiseOr
        | exp.BitwiseXor,
    ):
        return "arithmetic"
    if isinstance(node, exp.Func):
        name = node.sql_name() if not isinstance(node, exp.Anonymous) else str(node.this)
        return f"function {name.lower()}()"
    if isinstance(node, exp.Placeholder):
        return "placeholder"
    return f"{type(node).__name__.lower()} expression"


def _tokens_check(text: str) -> None:
    # comment markers outside string literals first (sqlglot drops some comments silently, e.g. a lone "--")
    stripped, quote = [], None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
            continue
        stripped.append(ch)
    bare = "".join(stripped)
    for marker in ("--", "/*", "*/"):
        if marker in bare:
            raise UnsafeExpression(f"comments are not allowed ({marker})", marker)
    depth = 0
    for ch in bare:
        depth += 1 if ch == "(" else -1 if ch == ")" else 0
        if depth > MAX_NESTING:
            raise UnsafeExpression(f"{TOO_DEEP} (at most {MAX_NESTING} parentheses)", "(" * depth)
    try:
        tokens = sqlglot.tokenize(text, read=DIALECT)
    except TokenError as exc:
        raise UnsafeExpression(parse_error_words(exc), text) from None
    for tok in tokens:
        if tok.comments:
            raise UnsafeExpression("comments are not allowed", tok.comments[0])
        if tok.token_type == TokenType.SEMICOLON:
            raise UnsafeExpression("semicolons / multiple statements are not allowed", ";")


def _resolve(name: str, lookup: Mapping[str, str]) -> str:
    try:
        return lookup[name.lower()]
    except KeyError:
        raise UnsafeExpression(f"unknown column {name!r}", name) from None


def _literal_value(node: exp.Expression) -> str | float | None:
    """Python value of a string/number literal (also ``-5``), else None."""
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return -float(node.this.this)
    if isinstance(node, exp.Literal):
        return node.this if node.is_string else float(node.this)
    return None


def _in_list(column: str, values: tuple[str, ...]) -> exp.Expression:
    if not values:
        return exp.false()
    return exp.In(this=exp.column(column, quoted=True), expressions=[exp.Literal.string(v) for v in values])


def _bucket_rewrite(node: exp.Expression) -> exp.Expression:
    """Rewrite ordered comparisons on score / company_employee_count into IN-lists of buckets."""
    try:
        if type(node) in _COMPARISONS:
            op = _COMPARISONS[type(node)]
            left, right = node.this, node.expression
            if isinstance(right, exp.Column) and not isinstance(left, exp.Column):
                left, right, op = right, left, _FLIPPED[op]
            if isinstance(left, exp.Column) and left.name in _ORDERED_COLUMNS:
                value = _literal_value(right)
                if value is None:
                    return node
                if left.name == "score":
                    if op in ("=", "!=") and isinstance(value, str):
                        return node if value in SCORES else _in_list("score", score_buckets(op, value))
                    return _in_list("score", score_buckets(op, str(value)))
                if op in ("=", "!=") and isinstance(value, str):
                    return node  # exact bucket string match stays a plain comparison
                return _in_list(left.name, employee_buckets_in_range(op, value))
        if (
            isinstance(node, exp.Between)
            and isinstance(node.this, exp.Column)
            and node.this.name in _ORDERED_COLUMNS
        ):
            low, high = _literal_value(node.args["low"]), _literal_value(node.args["high"])
            if low is None or high is None:
                return node
            if node.this.name == "score":
                return _in_list("score", score_buckets("between", (str(low), str(high))))
            return _in_list(node.this.name, employee_buckets_in_range("between", (low, high)))
    except BucketError as exc:
        raise UnsafeExpression(str(exc), node.sql(dialect=DIALECT)) from None
    return node


def validate_where(expr: str, columns: Mapping[str, str]) -> str:
    """Return safe DuckDB SQL for the boolean filter ``expr`` over ``columns`` (name -> type).

    Raises :class:`UnsafeExpression` naming the refused part. An empty/blank expression is refused too:
    callers should pass ``None`` to the engine instead.
    """
    if not expr or not expr.strip():
        raise UnsafeExpression("empty filter", "")
    if len(expr) > MAX_LENGTH:
        raise UnsafeExpression(f"filter longer than {MAX_LENGTH} characters", expr[:40])
    return _validate_cached(expr, tuple(sorted(columns.items())))


@functools.lru_cache(maxsize=512)
def _validate_cached(expr: str, columns: tuple[tuple[str, str], ...]) -> str:
    """validate_where's work, kept per (expression, columns): a pure function, and every estimate asks
    twice (when the definition compiles and again in the engine), which cost ~50 ms of sqlglot per ask.
    Refusals raise and are not kept."""
    _tokens_check(expr)
    try:
        return _validated_sql(expr, dict(columns))
    except RecursionError:  # e.g. hundreds of NOTs: deep without parentheses
        raise UnsafeExpression(TOO_DEEP, expr[:40]) from None


# sqlglot's parse errors name its classes ("Required keyword: 'expression' missing for <class ...EQ>"); people
# get what is wrong in words, and where (line and character, as sqlglot counts them, 1-based).
_PARSE_WORDS = (
    ("Required keyword", "something is missing after it (a value after an operator such as = or AND?)"),
    ("Expecting )", "a closing bracket ) is missing"),
    ("Expecting (", "an opening bracket ( is missing"),
    ("Unexpected token", "this is not expected here (a missing AND/OR, or a stray word?)"),
)


def parse_error_words(exc: Exception) -> str:
    """A sentence saying what could not be read in a filter and where, without sqlglot's internals."""
    if isinstance(exc, TokenError):
        return "the filter could not be read: a quote ' is not closed, or a character is not allowed"
    info = (getattr(exc, "errors", None) or [{}])[0]
    description = str(info.get("description") or "")
    what = next(
        (words for key, words in _PARSE_WORDS if key in description), "this is not a valid filter here"
    )
    where = ""
    if info.get("line") and info.get("col"):
        where = f" at line {info['line']}, character {info['col']}"
    near = str(info.get("highlight") or "").strip()
    return f"the filter could not be read{where}{f' near “{near}”' if near else ''}: {what}"


def _node_check(node: exp.Expression, lookup: Mapping[str, str]) -> None:
    """Raises UnsafeExpression when one node of a parsed filter is not on the allow-list or not in its
    allowed form (qualified or unknown columns, arithmetic, subqueries, ...)."""
    if not isinstance(node, _ALLOWED):
        raise UnsafeExpression(f"{_describe(node)} is not allowed", node.sql(dialect=DIALECT))
    if isinstance(node, exp.Column):
        if node.table or node.args.get("db") or node.args.get("catalog"):
            raise UnsafeExpression("qualified column names are not allowed", node.sql(dialect=DIALECT))
        if isinstance(node.this, exp.Star):
            raise UnsafeExpression("star (*) is not allowed", "*")
        _resolve(node.name, lookup)
    elif isinstance(node, exp.Neg) and not (isinstance(node.this, exp.Literal) and not node.this.is_string):
        raise UnsafeExpression("arithmetic is not allowed", node.sql(dialect=DIALECT))
    elif isinstance(node, exp.In):
        if node.args.get("query") or node.args.get("unnest") or node.args.get("field"):
            raise UnsafeExpression("subquery is not allowed", node.sql(dialect=DIALECT))
        for item in node.expressions:
            if _literal_value(item) is None and not isinstance(item, exp.Null | exp.Boolean):
                raise UnsafeExpression("IN accepts only a list of literals", item.sql(dialect=DIALECT))
    elif isinstance(node, exp.Lower) and not isinstance(node.this, exp.Column):
        # lower(column) is what case-insensitive text equality compiles to; nothing else may be wrapped
        raise UnsafeExpression("lower() accepts only a column", node.sql(dialect=DIALECT))
    elif isinstance(node, exp.Is) and not isinstance(node.expression, exp.Null | exp.Boolean):
        raise UnsafeExpression("IS accepts only NULL / TRUE / FALSE", node.sql(dialect=DIALECT))
    elif isinstance(node, exp.Like | exp.ILike) and node.args.get("escape"):
        raise UnsafeExpression("LIKE ... ESCAPE is not allowed", node.sql(dialect=DIALECT))


def _validated_sql(expr: str, columns: Mapping[str, str]) -> str:
    try:
        statements = sqlglot.parse(expr, read=DIALECT)
    except (ParseError, TokenError) as exc:
        raise UnsafeExpression(parse_error_words(exc), expr) from None
    statements = [s for s in statements if s is not None]
    if len(statements) != 1:
        raise UnsafeExpression("exactly one expression is allowed", expr)
    tree = statements[0]
    lookup = {name.lower(): name for name in columns}

    for node in tree.walk():
        _node_check(node, lookup)
    if isinstance(tree, exp.Column | exp.Literal | exp.Null | exp.Neg) and not isinstance(tree, exp.Boolean):
        raise UnsafeExpression("the filter must be a condition", tree.sql(dialect=DIALECT))

    def requote(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column):
            return exp.column(_resolve(node.name, lookup), quoted=True)
        return node

    tree = tree.transform(requote).transform(_bucket_rewrite)
    return tree.sql(dialect=DIALECT)


def validate_select(select: str, columns: Mapping[str, str]) -> tuple[str, ...]:
    """Column names from a comma-separated ``select`` (dataset casing, order kept, duplicates dropped).

    Blank means "all columns" and returns ``()``; anything but plain (optionally double-quoted) column
    names raises :class:`UnsafeExpression`.
    """
    if not select or not select.strip():
        return ()
    if len(select) > MAX_LENGTH:
        raise UnsafeExpression(f"select longer than {MAX_LENGTH} characters", select[:40])
    _tokens_check(select)
    lookup = {name.lower(): name for name in columns}
    out: list[str] = []
    expect_name = True
    tokens = sqlglot.tokenize(select, read=DIALECT)
    for i, tok in enumerate(tokens):
        if i + 1 < len(tokens) and tokens[i + 1].token_type == TokenType.L_PAREN:
            raise UnsafeExpression(f"function {tok.text}() is not allowed in select", f"{tok.text}(")
        if expect_name:
            if tok.token_type == TokenType.STAR:
                raise UnsafeExpression("star (*) is not allowed", "*")
            if tok.token_type not in (TokenType.VAR, TokenType.IDENTIFIER) and not (
                tok.text.lower() in lookup and tok.token_type != TokenType.STRING
            ):
                raise UnsafeExpression(f"expected a column name, got {tok.text!r}", tok.text)
            name = _resolve(tok.text, lookup)
            if name not in out:
                out.append(name)
            expect_name = False
        else:
            if tok.token_type != TokenType.COMMA:
                raise UnsafeExpression(
                    f"select accepts only comma-separated column names, got {tok.text!r}", tok.text
                )
            expect_name = True
    if expect_name:
        raise UnsafeExpression("select ends with a comma", ",")
    return tuple(out)
