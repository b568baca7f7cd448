/* lexer.h — PromQL tokens.
 *
 * A hand-written scanner over the query text: the parser pulls one token at a
 * time with promql_lex_next. Tokens point into the query (no copies); string
 * literals are unescaped by promql_unquote when the parser needs their value.
 * Keywords (and, by, offset, ...) come out as PROMQL_TOK_IDENT: the parser
 * decides from context, which lets label names such as `on` or `by` appear
 * inside braces as they can in Prometheus. */
#ifndef PL_PROMQL_LEXER_H
#define PL_PROMQL_LEXER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum promql_tok {
    PROMQL_TOK_EOF = 0,
    PROMQL_TOK_ERROR, /* text: the message; pos: where */
    PROMQL_TOK_IDENT, /* identifiers and metric names (may contain ':') */
    PROMQL_TOK_NUMBER,
    PROMQL_TOK_DURATION,
    PROMQL_TOK_STRING,
    PROMQL_TOK_LBRACE,
    PROMQL_TOK_RBRACE,
    PROMQL_TOK_LPAREN,
    PROMQL_TOK_RPAREN,
    PROMQL_TOK_LBRACKET,
    PROMQL_TOK_RBRACKET,
    PROMQL_TOK_COMMA,
    PROMQL_TOK_COLON,
    PROMQL_TOK_ASSIGN, /* = */
    PROMQL_TOK_AT,
    PROMQL_TOK_ADD,
    PROMQL_TOK_SUB,
    PROMQL_TOK_MUL,
    PROMQL_TOK_DIV,
    PROMQL_TOK_MOD,
    PROMQL_TOK_POW,
    PROMQL_TOK_EQLC, /* == */
    PROMQL_TOK_NEQ,
    PROMQL_TOK_LSS,
    PROMQL_TOK_GTR,
    PROMQL_TOK_LTE,
    PROMQL_TOK_GTE,
    PROMQL_TOK_EQL_REGEX,
    PROMQL_TOK_NEQ_REGEX,
};

typedef struct promql_token {
    enum promql_tok type;
    int pos;          /* byte offset of the first character */
    int len;          /* bytes */
    const char *text; /* points into the query; for ERROR a static message */
} promql_token_t;

typedef struct promql_lexer {
    const char *input;
    int len;
    int pos;
    char errbuf[128];
} promql_lexer_t;

void promql_lex_init(promql_lexer_t *lx, const char *input);
void promql_lex_next(promql_lexer_t *lx, promql_token_t *tok);
/* Short description for "unexpected ..." errors: `<op:+>`, `identifier "foo"`, `end of input`. */
void promql_token_describe(const promql_token_t *tok, char *out, size_t outsz);

/* Decodes a quoted literal ("...", '...', `...`) with Go's escapes. Returns a
 * malloc'd string, or NULL with a message in err (128 bytes). */
char *promql_unquote(const char *s, size_t n, char *err, size_t errsz);
/* Parses a Prometheus duration token ("5m", "1h30m", "500ms"). -1 if invalid. */
int promql_parse_duration_token(const char *s, size_t n, int64_t *ms);

#endif
