"""Node codes: the position of each key in sorted key order, assigned in SQL.

Every node table of the graph (and any stage that codes entities the same way) numbers its
keys 0..n-1 in sorted order, so a code is a row position in the node table.

>>> import duckdb
>>> con = duckdb.connect()
>>> sql = code_keys_sql("SELECT * FROM (VALUES ('b'), ('a'), ('c')) t(key)")
>>> con.execute(sql + " ORDER BY code").fetchall()
[(0, 'a'), (1, 'b'), (2, 'c')]
"""

from __future__ import annotations


def code_keys_sql(source_sql: str, order_by: str = "key") -> str:
    """SQL numbering the rows of ``source_sql`` 0..n-1 in ``order_by`` order.

    Parameters
    ----------
    source_sql : str
        A query with one row per distinct key.
    order_by : str, default "key"
        The column (or SQL expression over the columns of ``source_sql``) whose order the codes
        follow; its values must be distinct for the codes to be deterministic.

    Returns
    -------
    str
        ``SELECT code, * FROM (source_sql)``: an INTEGER ``code`` column first, then every
        column of ``source_sql`` in its order.
    """
    return (f"SELECT CAST(row_number() OVER (ORDER BY {order_by}) - 1 AS INTEGER) AS code, * "
            f"FROM ({source_sql})")
