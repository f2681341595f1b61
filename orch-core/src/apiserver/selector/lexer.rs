//! Tokenizer for the label selector string syntax, mirroring the lexer of
//! `k8s.io/apimachinery/pkg/labels`: identifiers run until whitespace or one
//! of the special characters `=!(),<>`; operators take the longest match.

/// One kind of token of a label selector string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A run of non-special, non-whitespace characters (also `in`/`notin`).
    Ident(String),
    /// `!`
    Not,
    /// `!=`
    NotEq,
    /// `=`
    Eq,
    /// `==`
    DoubleEq,
    /// `>`
    Gt,
    /// `<`
    Lt,
    /// `(`
    Open,
    /// `)`
    Close,
    /// `,`
    Comma,
    /// End of input.
    End,
}

impl Tok {
    /// The literal text, for error messages.
    pub(crate) fn literal(&self) -> &str {
        match self {
            Tok::Ident(s) => s,
            Tok::Not => "!",
            Tok::NotEq => "!=",
            Tok::Eq => "=",
            Tok::DoubleEq => "==",
            Tok::Gt => ">",
            Tok::Lt => "<",
            Tok::Open => "(",
            Tok::Close => ")",
            Tok::Comma => ",",
            Tok::End => "end of string",
        }
    }
}

/// A token with the byte offset where it starts.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) start: usize,
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '<' | '>')
}

/// Splits `input` into tokens; the last token is always [`Tok::End`].
pub(crate) fn tokenize(input: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if is_special(c) {
            chars.next();
            let next = chars.peek().map(|&(_, n)| n);
            let tok = match (c, next) {
                ('!', Some('=')) => Some(Tok::NotEq),
                ('=', Some('=')) => Some(Tok::DoubleEq),
                _ => None,
            };
            let tok = match tok {
                Some(t) => {
                    chars.next();
                    t
                }
                None => match c {
                    '!' => Tok::Not,
                    '=' => Tok::Eq,
                    '(' => Tok::Open,
                    ')' => Tok::Close,
                    ',' => Tok::Comma,
                    '<' => Tok::Lt,
                    _ => Tok::Gt,
                },
            };
            out.push(Token { tok, start });
            continue;
        }
        let mut end = input.len();
        while let Some(&(i, c)) = chars.peek() {
            if c.is_whitespace() || is_special(c) {
                end = i;
                break;
            }
            chars.next();
        }
        out.push(Token {
            tok: Tok::Ident(input[start..end].to_owned()),
            start,
        });
    }
    out.push(Token {
        tok: Tok::End,
        start: input.len(),
    });
    out
}
