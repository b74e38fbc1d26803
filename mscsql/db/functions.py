"""Which functions untrusted SQL may call, per dialect.

PostgreSQL and MySQL/MariaDB use an **allowlist**: the built-in functions that read and compute without side
effects, written in each engine's own (lower-case) names and grouped as the engines' manuals group them. A
call to anything else is refused, whatever it is (an administration function, a file or lock function, a
function of an extension, a user-defined function), unless the configuration names it
(``execution.allowed_functions``). Functions a PostgreSQL catalogue marks volatile appear here only when they
are read-only all the same (``random``, ``clock_timestamp``, ``pg_sleep``, ...); a test holds the list
against a live server's catalogue.

SQLite keeps a **denylist**, applied twice: by the guard and by the connection's authorizer, which sees every
function the engine calls (SQLite has no administration functions; its few dangerous ones are named here).
"""

from __future__ import annotations


def _names(*groups: str) -> frozenset[str]:
    return frozenset(name for group in groups for name in group.split())


#: PostgreSQL built-ins (manual chapter 9, "Functions and Operators"); sequence, administration, lock, file,
#: large-object, replication, statistics-reset and index-maintenance functions are left out on purpose.
POSTGRES_FUNCTIONS: frozenset[str] = _names(
    # 9.2 comparison, 9.18 conditional
    "num_nonnulls num_nulls coalesce nullif greatest least",
    # 9.3 mathematical
    "abs cbrt ceil ceiling degrees div exp factorial floor gcd lcm ln log log10 min_scale mod pi power "
    "radians round scale sign sqrt trim_scale trunc width_bucket random random_normal "
    "acos acosd asin asind atan atand atan2 atan2d cos cosd cot cotd sin sind tan tand "
    "sinh cosh tanh asinh acosh atanh erf erfc",
    # 9.4 string, 9.5 binary string, 9.6 bit string, 9.7 pattern matching
    "bit_length char_length character_length lower lpad ltrim normalize octet_length overlay position "
    "rpad rtrim substring trim unistr upper ascii btrim chr concat concat_ws format initcap left length md5 "
    "parse_ident quote_ident quote_literal quote_nullable repeat replace reverse right split_part "
    "starts_with string_to_array string_to_table strpos substr to_ascii to_hex to_bin to_oct translate "
    "casefold convert convert_from convert_to encode decode get_bit get_byte set_bit set_byte "
    "sha224 sha256 sha384 sha512 bit_count crc32 crc32c "
    "regexp_count regexp_instr regexp_like regexp_match regexp_matches regexp_replace "
    "regexp_split_to_array regexp_split_to_table regexp_substr similar_to_escape",
    # 9.8 formatting
    "to_char to_date to_number to_timestamp",
    # 9.9 date/time
    "age clock_timestamp current_date current_time current_timestamp date_add date_bin date_part "
    "date_subtract date_trunc extract isfinite justify_days justify_hours justify_interval localtime "
    "localtimestamp make_date make_interval make_time make_timestamp make_timestamptz now "
    "statement_timestamp timeofday transaction_timestamp timezone overlaps "
    "pg_sleep pg_sleep_for pg_sleep_until",
    # 9.10 enum, 9.11 geometric, 9.12 network
    "enum_first enum_last enum_range "
    "area center diameter height isclosed isopen npoints pclose popen radius slope width "
    "box bound_box circle line lseg path point polygon "
    "abbrev broadcast family host hostmask inet_merge inet_same_family masklen netmask network set_masklen "
    "text macaddr8_set7bit",
    # 9.13 text search (ts_stat and ts_rewrite run SQL given as text: left out)
    "array_to_tsvector get_current_ts_config numnode plainto_tsquery phraseto_tsquery websearch_to_tsquery "
    "querytree setweight strip to_tsquery to_tsvector json_to_tsvector jsonb_to_tsvector ts_delete ts_filter "
    "ts_headline ts_rank ts_rank_cd tsquery_phrase tsvector_to_array",
    # 9.14 UUID, 9.15 XML (the *_to_xml functions that run queries are left out)
    "gen_random_uuid uuidv4 uuidv7 uuid_extract_timestamp uuid_extract_version "
    "xmlcomment xmlconcat xmlelement xmlforest xmlpi xmlroot xmlagg xmlexists xml_is_well_formed "
    "xml_is_well_formed_document xml_is_well_formed_content xpath xpath_exists xmlparse xmlserialize xmltext",
    # 9.16 JSON
    "to_json to_jsonb array_to_json row_to_json json_build_array jsonb_build_array json_build_object "
    "jsonb_build_object json_object jsonb_object json_array_elements jsonb_array_elements "
    "json_array_elements_text jsonb_array_elements_text json_array_length jsonb_array_length json_each "
    "jsonb_each json_each_text jsonb_each_text json_extract_path jsonb_extract_path json_extract_path_text "
    "jsonb_extract_path_text json_object_keys jsonb_object_keys json_populate_record jsonb_populate_record "
    "jsonb_populate_record_valid json_populate_recordset jsonb_populate_recordset json_to_record "
    "jsonb_to_record json_to_recordset jsonb_to_recordset json_strip_nulls jsonb_strip_nulls jsonb_set "
    "jsonb_set_lax jsonb_insert jsonb_path_exists jsonb_path_match jsonb_path_query jsonb_path_query_array "
    "jsonb_path_query_first jsonb_path_exists_tz jsonb_path_match_tz jsonb_path_query_tz "
    "jsonb_path_query_array_tz jsonb_path_query_first_tz jsonb_pretty json_typeof jsonb_typeof json_agg "
    "jsonb_agg json_agg_strict jsonb_agg_strict json_object_agg jsonb_object_agg json_object_agg_strict "
    "jsonb_object_agg_strict json_object_agg_unique jsonb_object_agg_unique json_scalar json_serialize "
    "json_exists json_query json_value json_array json_objectagg json_arrayagg json_table",
    # 9.19 arrays, 9.20 ranges
    "array_append array_cat array_dims array_fill array_length array_lower array_ndims array_position "
    "array_positions array_prepend array_remove array_replace array_reverse array_sample array_shuffle "
    "array_sort array_to_string array_upper cardinality trim_array unnest "
    "isempty lower_inc upper_inc lower_inf upper_inf range_merge multirange "
    "int4range int8range numrange tsrange tstzrange daterange "
    "int4multirange int8multirange nummultirange tsmultirange tstzmultirange datemultirange",
    # 9.21 aggregates, 9.22 window functions, 9.25 set-returning functions
    "any_value array_agg avg bit_and bit_or bit_xor bool_and bool_or count every max min range_agg "
    "range_intersect_agg string_agg sum corr covar_pop covar_samp regr_avgx regr_avgy regr_count "
    "regr_intercept regr_r2 regr_slope regr_sxx regr_sxy regr_syy stddev stddev_pop stddev_samp variance "
    "var_pop var_samp mode percentile_cont percentile_disc grouping "
    "row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value nth_value "
    "generate_series generate_subscripts",
    # 9.27 system information that describes the query's own session and database
    "current_catalog current_database current_role current_schema current_schemas current_user session_user "
    "user version pg_backend_pid pg_typeof format_type col_description obj_description pg_get_viewdef "
    "pg_get_constraintdef "
    "pg_get_indexdef pg_get_expr pg_get_userbyid pg_table_is_visible pg_type_is_visible "
    "pg_function_is_visible pg_input_is_valid pg_column_size pg_size_pretty pg_size_bytes "
    "pg_collation_for pg_column_compression pg_encoding_to_char pg_char_to_encoding pg_client_encoding",
    # type names called as functions (casts)
    "bool int2 int4 int8 float4 float8 numeric date time timetz timestamp timestamptz interval varchar bpchar "
    "name",
)

#: PostgreSQL functions the catalogue marks volatile that are on the allowlist all the same: they read the
#: clock, draw random numbers or wait, and change nothing
POSTGRES_VOLATILE_READ_ONLY: frozenset[str] = _names(
    "random random_normal clock_timestamp timeofday gen_random_uuid uuidv4 uuidv7 pg_sleep pg_sleep_for "
    "pg_sleep_until array_sample array_shuffle")

#: MySQL 8 and MariaDB built-ins (the manuals' "Built-In Function and Operator Reference"); lock, file,
#: replication, session-changing and benchmark functions are left out on purpose.
MYSQL_FUNCTIONS: frozenset[str] = _names(
    # comparison and control flow
    "coalesce greatest least interval isnull strcmp if ifnull nullif nvl nvl2 decode_oracle",
    # string
    "ascii bin bit_length char char_length character_length chr concat concat_ws elt export_set field "
    "find_in_set format from_base64 to_base64 hex insert instr lcase left length length_oracle locate lower "
    "lpad ltrim make_set mid oct octet_length ord position quote repeat replace reverse right rpad rtrim "
    "soundex space substr substring substring_index trim ucase unhex upper weight_string "
    "regexp_instr regexp_like regexp_replace regexp_substr natural_sort_key sformat",
    # numeric
    "abs acos asin atan atan2 ceil ceiling conv cos cot crc32 crc32c degrees exp floor ln log log10 log2 mod "
    "pi pow power radians rand round sign sin sqrt tan truncate",
    # date and time
    "adddate addtime convert_tz curdate current_date current_time current_timestamp curtime date date_add "
    "date_format date_sub datediff day dayname dayofmonth dayofweek dayofyear extract from_days "
    "from_unixtime get_format hour last_day localtime localtimestamp makedate maketime microsecond minute "
    "month monthname months_between now period_add period_diff quarter sec_to_time second str_to_date "
    "subdate subtime sysdate time time_format time_to_sec timediff timestamp timestampadd timestampdiff "
    "to_char to_days to_seconds unix_timestamp utc_date utc_time utc_timestamp week weekday weekofyear "
    "year yearweek",
    # casts and character sets
    "cast convert binary charset collation coercibility",
    # JSON
    "json_array json_array_append json_array_insert json_arrayagg json_array_intersect json_contains "
    "json_contains_path json_depth json_equals json_exists json_extract json_insert json_keys json_length "
    "json_merge json_merge_patch json_merge_preserve json_normalize json_object json_objectagg "
    "json_object_filter_keys json_object_to_array json_overlaps json_pretty json_query json_quote "
    "json_remove json_replace json_schema_valid json_search json_set json_storage_size json_table json_type "
    "json_unquote json_valid json_value json_compact json_detailed json_loose member_of",
    # aggregates and window functions
    "avg bit_and bit_or bit_xor count group_concat max min std stddev stddev_pop stddev_samp sum var_pop "
    "var_samp variance any_value grouping "
    "cume_dist dense_rank first_value lag last_value lead nth_value ntile percent_rank rank row_number "
    "median percentile_cont percentile_disc",
    # information about the query's own session, hashing, identifiers, networks
    "database schema user current_user session_user system_user version current_role connection_id "
    "md5 sha sha1 sha2 uuid uuid_short uuid_to_bin bin_to_uuid is_uuid sys_guid "
    "inet_aton inet_ntoa inet6_aton inet6_ntoa is_ipv4 is_ipv6 is_ipv4_compat is_ipv4_mapped sleep",
)

#: names only MySQL 8 or MariaDB releases after 10.11 have (so MariaDB 10.11 cannot vouch for them)
MYSQL_VERSION_SPECIFIC: frozenset[str] = _names(
    "regexp_like json_overlaps json_pretty json_schema_valid json_storage_size json_value member_of "
    "any_value bin_to_uuid uuid_to_bin is_uuid grouping "
    "json_array_intersect json_object_filter_keys json_object_to_array length_oracle months_between")

#: Functions with side effects or access outside the database, for SQLite (lower-case names). The
#: authorizer refuses them at run time too.
SQLITE_FORBIDDEN_FUNCTIONS: frozenset[str] = frozenset({
    "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "sqlite_dbpage",
})

_ALLOWLISTS = {"postgres": POSTGRES_FUNCTIONS, "mysql": MYSQL_FUNCTIONS}


def has_allowlist(read: str) -> bool:
    """Whether the sqlglot dialect ``read`` checks calls against an allowlist (else a denylist)."""
    return read in _ALLOWLISTS


def function_allowed(name: str, read: str, extra: frozenset[str] = frozenset()) -> bool:
    """May untrusted SQL in sqlglot dialect ``read`` call the function ``name`` (lower case, unqualified)?
    ``extra`` holds the names a configuration allows besides the built-ins."""
    allowlist = _ALLOWLISTS.get(read)
    if allowlist is None:
        return name not in SQLITE_FORBIDDEN_FUNCTIONS
    return name in allowlist or name in extra


def forbidden_sqlite_function(name: str) -> bool:
    """True for a SQLite function (lower-case name) that neither the guard nor the authorizer lets run."""
    return name in SQLITE_FORBIDDEN_FUNCTIONS
