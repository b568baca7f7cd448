/* lexer.c — PromQL scanner. See lexer.h. */
#include "promql/lexer.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void promql_lex_init(promql_lexer_t *lx, const char *input) {
    lx->input = input;
    lx->len = (int)strlen(input);
    lx->pos = 0;
    lx->errbuf[0] = '\0';
}

static bool is_ident_start(int c) { return isalpha(c) || c == '_' || c == ':'; }
static bool is_ident_char(int c) { return isalnum(c) || c == '_' || c == ':'; }

static void set_tok(promql_token_t *tok, enum promql_tok t, const char *input, int pos, int len) {
    tok->type = t;
    tok->pos = pos;
    tok->len = len;
    tok->text = input + pos;
}

static void set_err(promql_lexer_t *lx, promql_token_t *tok, int pos, const char *msg) {
    snprintf(lx->errbuf, sizeof lx->errbuf, "%s", msg);
    tok->type = PROMQL_TOK_ERROR;
    tok->pos = pos;
    tok->len = 0;
    tok->text = lx->errbuf;
}

int promql_parse_duration_token(const char *s, size_t n, int64_t *ms) {
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"y", 365LL * 86400000},
                 {"w", 7LL * 86400000},
                 {"d", 86400000},
                 {"h", 3600000},
                 {"m", 60000},
                 {"s", 1000},
                 {"ms", 1}};
    size_t i = 0;
    int last = -1;
    int64_t total = 0;
    if (n == 0) return -1;
    while (i < n) {
        if (!isdigit((unsigned char)s[i])) return -1;
        int64_t v = 0;
        while (i < n && isdigit((unsigned char)s[i])) {
            if (v > (INT64_MAX - 9) / 10) return -1;
            v = v * 10 + (s[i] - '0');
            i++;
        }
        size_t u0 = i;
        while (i < n && isalpha((unsigned char)s[i]))
            i++;
        size_t ulen = i - u0;
        int found = -1;
        for (int k = 0; k < 7; k++)
            if (strlen(units[k].unit) == ulen && memcmp(units[k].unit, s + u0, ulen) == 0) found = k;
        if (found < 0 || found <= last) return -1;
        last = found;
        if (v != 0 && units[found].ms > INT64_MAX / v) return -1;
        total += v * units[found].ms;
        if (total < 0) return -1;
    }
    *ms = total;
    return 0;
}

static void lex_number_or_duration(promql_lexer_t *lx, promql_token_t *tok) {
    const char *s = lx->input;
    int start = lx->pos, i = start;
    bool hex = false;
    if (s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X') && isxdigit((unsigned char)s[i + 2])) {
        hex = true;
        i += 2;
        while (isxdigit((unsigned char)s[i]))
            i++;
    } else {
        while (isdigit((unsigned char)s[i]))
            i++;
        if (s[i] == '.') {
            i++;
            while (isdigit((unsigned char)s[i]))
                i++;
        }
        if ((s[i] == 'e' || s[i] == 'E') &&
            (isdigit((unsigned char)s[i + 1]) ||
             ((s[i + 1] == '+' || s[i + 1] == '-') && isdigit((unsigned char)s[i + 2])))) {
            i += 2;
            while (isdigit((unsigned char)s[i]))
                i++;
        }
    }
    if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.') {
        set_tok(tok, PROMQL_TOK_NUMBER, s, start, i - start);
        lx->pos = i;
        return;
    }
    if (!hex) {
        /* A duration: digits and unit letters. */
        int j = start;
        while (isalnum((unsigned char)s[j]))
            j++;
        int64_t ms;
        if (!isalnum((unsigned char)s[j]) && s[j] != '_' && s[j] != '.' &&
            promql_parse_duration_token(s + start, (size_t)(j - start), &ms) == 0) {
            set_tok(tok, PROMQL_TOK_DURATION, s, start, j - start);
            lx->pos = j;
            return;
        }
    }
    int j = start;
    while (is_ident_char((unsigned char)s[j]) || s[j] == '.')
        j++;
    char msg[128];
    snprintf(msg, sizeof msg, "bad number or duration syntax: \"%.*s\"", j - start, s + start);
    set_err(lx, tok, start, msg);
    lx->pos = j;
}

void promql_lex_next(promql_lexer_t *lx, promql_token_t *tok) {
    const char *s = lx->input;
    for (;;) {
        while (lx->pos < lx->len && isspace((unsigned char)s[lx->pos]))
            lx->pos++;
        if (lx->pos < lx->len && s[lx->pos] == '#') {
            while (lx->pos < lx->len && s[lx->pos] != '\n')
                lx->pos++;
            continue;
        }
        break;
    }
    int p = lx->pos;
    if (p >= lx->len) {
        set_tok(tok, PROMQL_TOK_EOF, s, p, 0);
        return;
    }
    unsigned char c = (unsigned char)s[p];
    unsigned char n1 = p + 1 < lx->len ? (unsigned char)s[p + 1] : 0;
    enum promql_tok t;
    int len = 1;
    switch (c) {
    case '{': t = PROMQL_TOK_LBRACE; break;
    case '}': t = PROMQL_TOK_RBRACE; break;
    case '(': t = PROMQL_TOK_LPAREN; break;
    case ')': t = PROMQL_TOK_RPAREN; break;
    case '[': t = PROMQL_TOK_LBRACKET; break;
    case ']': t = PROMQL_TOK_RBRACKET; break;
    case ',': t = PROMQL_TOK_COMMA; break;
    case '@': t = PROMQL_TOK_AT; break;
    case '+': t = PROMQL_TOK_ADD; break;
    case '-': t = PROMQL_TOK_SUB; break;
    case '*': t = PROMQL_TOK_MUL; break;
    case '/': t = PROMQL_TOK_DIV; break;
    case '%': t = PROMQL_TOK_MOD; break;
    case '^': t = PROMQL_TOK_POW; break;
    case '=':
        if (n1 == '=')
            t = PROMQL_TOK_EQLC, len = 2;
        else if (n1 == '~')
            t = PROMQL_TOK_EQL_REGEX, len = 2;
        else
            t = PROMQL_TOK_ASSIGN;
        break;
    case '!':
        if (n1 == '=')
            t = PROMQL_TOK_NEQ, len = 2;
        else if (n1 == '~')
            t = PROMQL_TOK_NEQ_REGEX, len = 2;
        else {
            set_err(lx, tok, p, "unexpected character after '!': ");
            if (n1) snprintf(lx->errbuf, sizeof lx->errbuf, "unexpected character after '!': '%c'", n1);
            lx->pos = p + 1;
            return;
        }
        break;
    case '<':
        if (n1 == '=')
            t = PROMQL_TOK_LTE, len = 2;
        else
            t = PROMQL_TOK_LSS;
        break;
    case '>':
        if (n1 == '=')
            t = PROMQL_TOK_GTE, len = 2;
        else
            t = PROMQL_TOK_GTR;
        break;
    case ':':
        if (is_ident_start(n1) && n1 != ':') {
            goto ident;
        }
        t = PROMQL_TOK_COLON;
        break;
    case '"':
    case '\'':
    case '`': {
        int i = p + 1;
        while (i < lx->len && (unsigned char)s[i] != c) {
            if (c != '`' && s[i] == '\\' && i + 1 < lx->len)
                i++;
            else if (c != '`' && s[i] == '\n')
                break;
            i++;
        }
        if (i >= lx->len || (unsigned char)s[i] != c) {
            set_err(lx, tok, p, c == '`' ? "unterminated raw string" : "unterminated quoted string");
            lx->pos = lx->len;
            return;
        }
        set_tok(tok, PROMQL_TOK_STRING, s, p, i + 1 - p);
        lx->pos = i + 1;
        return;
    }
    default:
        if (isdigit(c) || (c == '.' && isdigit(n1))) {
            lex_number_or_duration(lx, tok);
            return;
        }
        if (is_ident_start(c)) {
        ident:;
            int i = p;
            while (i < lx->len && is_ident_char((unsigned char)s[i]))
                i++;
            set_tok(tok, PROMQL_TOK_IDENT, s, p, i - p);
            lx->pos = i;
            return;
        }
        {
            char msg[64];
            if (c >= 0x20 && c < 0x7f)
                snprintf(msg, sizeof msg, "unexpected character: '%c'", c);
            else
                snprintf(msg, sizeof msg, "unexpected character: '\\x%02x'", c);
            set_err(lx, tok, p, msg);
            lx->pos = p + 1;
            return;
        }
    }
    set_tok(tok, t, s, p, len);
    lx->pos = p + len;
}

void promql_token_describe(const promql_token_t *tok, char *out, size_t outsz) {
    switch (tok->type) {
    case PROMQL_TOK_EOF: snprintf(out, outsz, "end of input"); return;
    case PROMQL_TOK_ERROR: snprintf(out, outsz, "%s", tok->text); return;
    case PROMQL_TOK_IDENT: {
        static const char *kw[] = {"and", "or",       "unless",     "atan2",       "by",   "without",
                                   "on",  "ignoring", "group_left", "group_right", "bool", "offset"};
        for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++)
            if ((int)strlen(kw[i]) == tok->len && strncasecmp(kw[i], tok->text, (size_t)tok->len) == 0) {
                if (i < 4)
                    snprintf(out, outsz, "<op:%.*s>", tok->len, tok->text);
                else
                    snprintf(out, outsz, "<%.*s>", tok->len, tok->text);
                return;
            }
        snprintf(out, outsz, "identifier \"%.*s\"", tok->len, tok->text);
        return;
    }
    case PROMQL_TOK_NUMBER: snprintf(out, outsz, "number \"%.*s\"", tok->len, tok->text); return;
    case PROMQL_TOK_DURATION: snprintf(out, outsz, "duration \"%.*s\"", tok->len, tok->text); return;
    case PROMQL_TOK_STRING: snprintf(out, outsz, "string %.*s", tok->len, tok->text); return;
    case PROMQL_TOK_LBRACE: snprintf(out, outsz, "left brace '{'"); return;
    case PROMQL_TOK_RBRACE: snprintf(out, outsz, "right brace '}'"); return;
    case PROMQL_TOK_LPAREN: snprintf(out, outsz, "left parenthesis '('"); return;
    case PROMQL_TOK_RPAREN: snprintf(out, outsz, "right parenthesis ')'"); return;
    case PROMQL_TOK_LBRACKET: snprintf(out, outsz, "left bracket '['"); return;
    case PROMQL_TOK_RBRACKET: snprintf(out, outsz, "right bracket ']'"); return;
    case PROMQL_TOK_COMMA: snprintf(out, outsz, "\",\""); return;
    case PROMQL_TOK_COLON: snprintf(out, outsz, "\":\""); return;
    case PROMQL_TOK_ASSIGN: snprintf(out, outsz, "\"=\""); return;
    case PROMQL_TOK_AT: snprintf(out, outsz, "<@>"); return;
    default: snprintf(out, outsz, "<op:%.*s>", tok->len, tok->text); return;
    }
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void put_utf8(char **o, uint32_t r) {
    unsigned char *p = (unsigned char *)*o;
    if (r < 0x80)
        *p++ = (unsigned char)r;
    else if (r < 0x800) {
        *p++ = (unsigned char)(0xc0 | (r >> 6));
        *p++ = (unsigned char)(0x80 | (r & 0x3f));
    } else if (r < 0x10000) {
        *p++ = (unsigned char)(0xe0 | (r >> 12));
        *p++ = (unsigned char)(0x80 | ((r >> 6) & 0x3f));
        *p++ = (unsigned char)(0x80 | (r & 0x3f));
    } else {
        *p++ = (unsigned char)(0xf0 | (r >> 18));
        *p++ = (unsigned char)(0x80 | ((r >> 12) & 0x3f));
        *p++ = (unsigned char)(0x80 | ((r >> 6) & 0x3f));
        *p++ = (unsigned char)(0x80 | (r & 0x3f));
    }
    *o = (char *)p;
}

char *promql_unquote(const char *s, size_t n, char *err, size_t errsz) {
    if (n < 2 || s[0] != s[n - 1]) {
        snprintf(err, errsz, "invalid syntax");
        return NULL;
    }
    char q = s[0];
    char *out = malloc(n * 2 + 1), *o = out;
    if (!out) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    if (q == '`') {
        memcpy(out, s + 1, n - 2);
        out[n - 2] = '\0';
        return out;
    }
    for (size_t i = 1; i < n - 1; i++) {
        char c = s[i];
        if (c != '\\') {
            *o++ = c;
            continue;
        }
        if (++i >= n - 1) goto bad;
        c = s[i];
        switch (c) {
        case 'a': *o++ = '\a'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'v': *o++ = '\v'; break;
        case '\\': *o++ = '\\'; break;
        case '\'':
        case '"':
            if (c != q) goto bad;
            *o++ = c;
            break;
        case 'x': {
            if (i + 2 >= n - 1 + 1 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) goto bad;
            *o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
            break;
        }
        case 'u':
        case 'U': {
            int digits = c == 'u' ? 4 : 8;
            uint32_t r = 0;
            if (i + (size_t)digits >= n - 1 + 1) goto bad;
            for (int k = 1; k <= digits; k++) {
                int h = hexval(s[i + (size_t)k]);
                if (h < 0) goto bad;
                r = r * 16 + (uint32_t)h;
            }
            if (r > 0x10ffff || (r >= 0xd800 && r < 0xe000)) goto bad;
            put_utf8(&o, r);
            i += (size_t)digits;
            break;
        }
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7': {
            if (i + 2 >= n - 1 + 1) goto bad;
            int v = 0;
            for (int k = 0; k < 3; k++) {
                char d = s[i + (size_t)k];
                if (d < '0' || d > '7') goto bad;
                v = v * 8 + (d - '0');
            }
            if (v > 255) goto bad;
            *o++ = (char)v;
            i += 2;
            break;
        }
        default: goto bad;
        }
    }
    *o = '\0';
    return out;
bad:
    free(out);
    snprintf(err, errsz, "invalid syntax");
    return NULL;
}
