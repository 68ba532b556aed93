"""RE2 patterns with RE2's answers, where other regex engines read the same text differently:
the dialect tests (Spark, Trino) check that the regexes they emit match as RE2 does."""

# (full match?, RE2 pattern, text, RE2's answer): each a place where Java's regex engine reads
# the same pattern differently.
REGEX_CHECKS = [
    (False, "abc$", "abc\n", False),  # Java's `$` also matches before a final line break
    (False, "a.c", "a\rc", True),  # Java's `.` also excludes \r
    (False, "a.c", "a\nc", False),
    (True, "[[:digit:]]+", "123", True),  # POSIX classes
    (True, "[[:digit:]]+", "12a", False),
    (True, "[^[:space:]]+", "ab", True),
    (False, "(?P<first_name>\\w+)-(\\w+)", "ab-cd", True),  # Java names cannot hold `_`
    (True, "[a[]+", "[a[", True),  # `[` in a class is a literal, not a nested class
    (True, "[a&&b]", "&", True),  # `&&` in a class is a literal, not an intersection
    (True, "x{abc}", "x{abc}", True),  # `{` that is no repetition is a literal
    (True, "x{2}", "xx", True),
    (False, "(?m)^b$", "a\nb\nc", True),
    (True, "\\s", "\x0b", False),  # RE2's \s has no vertical tab
    (True, "(?s:.*)", "a\nb", True),
    (True, "\\Qa.b\\E", "a.b", True),
    (True, "\\Qa.b\\E", "axb", False),
    (True, "ab|cd", "abcd", False),  # the alternation is anchored as a whole
]
