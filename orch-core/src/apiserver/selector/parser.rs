//! Recursive-descent parser for the label selector string syntax, with
//! the grammar and error wording of `k8s.io/apimachinery/pkg/labels`.

use super::label::{LabelSelector, Operator, Requirement};
use super::lexer::{tokenize, Tok, Token};
use super::SelectorError;

/// Parses a label selector string (see [`LabelSelector::parse`]).
pub(crate) fn parse(input: &str) -> Result<LabelSelector, SelectorError> {
    Parser {
        input,
        toks: tokenize(input),
        pos: 0,
        term_start: 0,
    }
    .parse()
}

/// Recursive-descent parser over the token list.
struct Parser<'a> {
    input: &'a str,
    toks: Vec<Token>,
    pos: usize,
    /// Token index where the current term starts (for error messages).
    term_start: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].tok
    }

    fn next(&mut self) -> Tok {
        let tok = self.peek().clone();
        self.pos = (self.pos + 1).min(self.toks.len() - 1);
        tok
    }

    /// The text of the current term: from its first token to the next
    /// comma outside parentheses (or the end).
    fn term(&self) -> String {
        let start = self.toks[self.term_start].start;
        let mut depth = 0usize;
        let mut end = self.input.len();
        for t in &self.toks[self.term_start..] {
            match t.tok {
                Tok::Open => depth += 1,
                Tok::Close => depth = depth.saturating_sub(1),
                Tok::Comma if depth == 0 && t.start > start => {
                    end = t.start;
                    break;
                }
                _ => {}
            }
        }
        let term = self.input[start..end].trim();
        if term.is_empty() {
            self.input.trim()
        } else {
            term
        }
        .to_owned()
    }

    fn syntax(&self, found: &Tok, expected: &str) -> SelectorError {
        SelectorError::Syntax {
            term: self.term(),
            found: found.literal().to_owned(),
            expected: expected.to_owned(),
        }
    }

    fn parse(mut self) -> Result<LabelSelector, SelectorError> {
        let mut reqs = Vec::new();
        loop {
            self.term_start = self.pos;
            match self.peek().clone() {
                Tok::Ident(_) | Tok::Not => {
                    reqs.push(self.requirement()?);
                    match self.next() {
                        Tok::End => break,
                        Tok::Comma => {
                            if !matches!(self.peek(), Tok::Ident(_) | Tok::Not) {
                                self.term_start = self.pos;
                                let found = self.peek().clone();
                                return Err(self.syntax(&found, "identifier after ','"));
                            }
                        }
                        other => return Err(self.syntax(&other, "',' or 'end of string'")),
                    }
                }
                Tok::End => break,
                other => {
                    return Err(self.syntax(&other, "!, identifier, or 'end of string'"));
                }
            }
        }
        Ok(LabelSelector::from_requirements(reqs))
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        let mut tok = self.next();
        let negated = tok == Tok::Not;
        if negated {
            tok = self.next();
        }
        let key = match tok {
            Tok::Ident(key) => key,
            other => return Err(self.syntax(&other, "identifier")),
        };
        let term = self.term();
        if negated {
            return Requirement::build(&term, &key, Operator::DoesNotExist, Vec::new());
        }
        if matches!(self.peek(), Tok::End | Tok::Comma) {
            return Requirement::build(&term, &key, Operator::Exists, Vec::new());
        }
        let op = match self.next() {
            Tok::Eq | Tok::DoubleEq => Operator::Equals,
            Tok::NotEq => Operator::NotEquals,
            Tok::Gt => Operator::GreaterThan,
            Tok::Lt => Operator::LessThan,
            Tok::Ident(w) if w == "in" => Operator::In,
            Tok::Ident(w) if w == "notin" => Operator::NotIn,
            other => return Err(self.syntax(&other, "one of [!= < = == > in notin] after the key")),
        };
        let values = match op {
            Operator::In | Operator::NotIn => self.values()?,
            _ => self.exact_value()?,
        };
        Requirement::build(&term, &key, op, values)
    }

    /// `(a,b,c)`; empty entries are the empty string, like Kubernetes.
    fn values(&mut self) -> Result<Vec<String>, SelectorError> {
        let open = self.next();
        if open != Tok::Open {
            return Err(self.syntax(&open, "'('"));
        }
        let mut values = Vec::new();
        let mut expect_value = true;
        loop {
            match self.next() {
                Tok::Close => {
                    if expect_value {
                        values.push(String::new());
                    }
                    return Ok(values);
                }
                Tok::Comma => {
                    if expect_value {
                        values.push(String::new());
                    }
                    expect_value = true;
                }
                Tok::Ident(v) if expect_value => {
                    values.push(v);
                    expect_value = false;
                }
                other if expect_value => {
                    return Err(self.syntax(&other, "',', ')' or identifier"));
                }
                other => return Err(self.syntax(&other, "',' or ')'")),
            }
        }
    }

    /// The single value after `=`, `==`, `!=`, `>` or `<` (may be empty).
    fn exact_value(&mut self) -> Result<Vec<String>, SelectorError> {
        match self.peek().clone() {
            Tok::End | Tok::Comma => Ok(vec![String::new()]),
            Tok::Ident(v) => {
                self.next();
                Ok(vec![v])
            }
            other => Err(self.syntax(&other, "identifier")),
        }
    }
}
