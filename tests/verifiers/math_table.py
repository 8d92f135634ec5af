"""Regression table for the `math` verifier: (gold, completion, expected) rows of realistic completions.

Grouped by the form they exercise. Add a row for every real bug. `expected` is True (credited), False
(0.0). Pathological rows that must come back unscored live in the test module itself.
"""

from __future__ import annotations

Row = tuple[str, str, bool]

EXTRACTION: list[Row] = [
    # \boxed with nested braces, \boxed 5, \fbox
    ("\\frac{1}{2}", "We divide both sides by 4 to get $x = \\boxed{\\frac{2}{4}}$ which simplifies.", True),
    ("\\frac{\\sqrt{3}}{2}", "Hence $\\sin 60^\\circ = \\boxed{\\frac{\\sqrt{3}}{2}}$.", True),
    ("5", "Adding the two gives $\\boxed 5$.", True),
    ("12", "The total is \\fbox{12}.", True),
    ("12", "The total is \\fbox{13}.", False),
    # answer phrases
    ("18", "Janet sells 16 - 3 - 4 = 9 eggs. She makes 9 * 2 = $18 every day.\nThe answer is 18.", True),
    ("18", "She makes 9 * 2 = 18 dollars.\nFinal Answer: 18", True),
    ("\\frac{3}{4}", "Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.", True),
    ("\\frac{3}{4}", "Final Answer: The final answer is $\\frac{4}{3}$. I hope it is correct.", False),
    ("72", "Natalia sold 48/2 = 24 clips in May.\nAltogether she sold 48 + 24 = 72 clips.\n#### 72", True),
    ("72", "Natalia sold 48/2 = 24 clips in May.\nAltogether she sold 48 + 24 = 72 clips.\n#### 24", False),
    ("42", "**Answer:** 42", True),
    ("10", "So the answer is: $10$", True),
    # <think> ignored
    ("7", "<think>Maybe it is 5? Let me check: 3 + 4 = 7.</think>The sum is $\\boxed{7}$.", True),
    ("5", "<think>Maybe it is 5? Let me check: 3 + 4 = 7.</think>The sum is $\\boxed{7}$.", False),
    ("7", "Okay, 3 + 4... it's 7.</think>\n\n**Answer:** 7", True),
    # the final answer wins over earlier working and rejected guesses
    ("9", "First guess: the answer is 8. But I forgot the last term, so the answer is 9.", True),
    ("8", "First guess: the answer is 8. But I forgot the last term, so the answer is 9.", False),
    ("64", "Is it 32? No: 2^5 = 32 is for five doublings; we have six. So the final answer is 64.", True),
    # last-number fallback
    ("15", "Tom had 12 apples and bought 3 more.\nSo he has 15 apples now.", True),
    ("12", "Tom had 12 apples and bought 3 more.\nSo he has 15 apples now.", False),
    ("0.75", "The probability works out to $\\frac{3}{4}$", True),
    ("\\frac{10}{9}", "\\frac{10}{9}", True),
    ("1000", "1 000", True),
    ("1000.99", "1,000.99$", True),
    ("5", "The answer is 5 (since 2 + 3 = 5).", True),
    ("15", "The pens cost 5 x $2 = $10. She pays $25, so her change is $25 - $10 = $15.", True),
    ("15", "The answer is $15. I hope it is correct.", True),
]

NUMBERS: list[Row] = [
    ("1234", "The total is \\boxed{1,234}.", True),
    ("1,234,567", "The answer is 1234567.", True),
    ("1000000", "So we get $\\boxed{1\\,000\\,000}$.", True),
    ("10000", "The answer is 10{,}000.", True),
    ("18", "She pays $\\boxed{\\$18}$.", True),
    ("18", "The answer is $18.00.", True),
    ("\\$18.50", "Each ticket costs \\boxed{18.5} dollars.", True),
    ("5", "The side is $\\boxed{5\\text{ cm}}$.", True),
    ("25", "The area is \\boxed{25 \\text{ cm}^2}.", True),
    ("45", "It takes him 45 minutes.\n#### 45 minutes", True),
    ("0.5", "The probability is \\boxed{\\frac{1}{2}}.", True),
    ("\\frac{1}{2}", "The probability is \\boxed{0.5}.", True),
    ("\\frac{1}{2}", "The probability is \\boxed{0.50}.", True),
    ("\\frac{2}{3}", "The ratio is \\boxed{4/6}.", True),
    ("\\frac{2}{3}", "The ratio is \\boxed{3/2}.", False),
    ("25\\%", "The discount is \\boxed{25\\%}.", True),
    ("25\\%", "So the percentage is \\boxed{25}.", True),
    ("25\\%", "As a decimal that is \\boxed{0.25}.", True),
    ("0.25", "That is \\boxed{25\\%} of the total.", True),
    ("25\\%", "The discount is \\boxed{2.5\\%}.", False),
    ("\\frac{3}{2}", "So $x = \\boxed{\\dfrac{3}{2}}$.", True),
    ("\\frac{1}{2}", "Thus $\\boxed{\\tfrac12}$.", True),
    ("\\frac12", "Thus $\\boxed{\\frac{1}{2}}$.", True),
    ("\\frac{5}{2}", "He ran $\\boxed{2\\frac{1}{2}}$ miles.", True),
    ("2\\frac{1}{2}", "He ran \\boxed{2.5} miles.", True),
    ("3\\frac{1}{4}", "The answer is 3 1/4.", True),
    ("-7", "The minimum value is $\\boxed{-7}$.", True),
    ("-7", "The minimum value is $\\boxed{7}$.", False),
    ("−7", "The minimum value is \\boxed{-7}.", True),
    ("0.\\overline{3}", "The repeating decimal equals \\boxed{\\frac{1}{3}}.", True),
    ("6.02 \\times 10^{23}", "There are $\\boxed{6.02 \\times 10^{23}}$ atoms.", True),
    ("6.02 \\times 10^{23}", "There are \\boxed{6.02e23} atoms.", True),
    ("1.5 \\times 10^{-3}", "The value is \\boxed{0.0015}.", True),
    ("1.5 \\times 10^{-3}", "The value is \\boxed{0.015}.", False),
    ("3 \\times 10^8", "Light travels at \\boxed{300000000} m/s.", True),
    ("2^{10}", "That is $\\boxed{1024}$.", True),
    ("120", "The number of arrangements is $\\boxed{5!}$.", True),
    ("10", "There are $\\boxed{\\binom{5}{2}}$ handshakes.", True),
    ("10", "There are $\\boxed{\\dbinom{5}{3}}$ ways.", True),
]

CONSTANTS: list[Row] = [
    ("\\sqrt{2}", "The diagonal is $\\boxed{\\sqrt2}$.", True),
    ("2\\sqrt{3}", "The length is $\\boxed{\\sqrt{12}}$.", True),
    ("\\frac{\\sqrt{2}}{2}", "So $\\cos 45^\\circ = \\boxed{\\frac{1}{\\sqrt{2}}}$.", True),
    ("3\\sqrt{2}", "The distance is $\\boxed{\\sqrt{18}}$.", True),
    ("3\\sqrt{2}", "The distance is $\\boxed{2\\sqrt{3}}$.", False),
    ("\\sqrt[3]{2}", "The edge is $\\boxed{2^{1/3}}$.", True),
    ("4\\pi", "The area is $\\boxed{4\\pi}$ square units.", True),
    ("4\\pi", "The area is $\\boxed{\\pi 4}$.", True),
    ("4\\pi", "The area is $\\boxed{12.566}$.", False),
    ("\\frac{\\pi}{3}", "The angle is $\\boxed{\\pi/3}$.", True),
    ("e^2", "The limit is $\\boxed{e^{2}}$.", True),
    ("e^2", "The limit is $\\boxed{\\exp(2)}$.", True),
    ("e^2", "The limit is $\\boxed{2e}$.", False),
    ("\\ln 2", "The integral equals $\\boxed{\\log 2}$.", True),
    ("\\log_2 8", "So the exponent is \\boxed{3}.", True),
    ("2 + \\sqrt{5}", "The larger root is $\\boxed{\\sqrt{5} + 2}$.", True),
    ("\\frac{1+\\sqrt{5}}{2}", "The ratio is $\\boxed{\\frac{\\sqrt5+1}{2}}$.", True),
    ("\\frac{1+\\sqrt{5}}{2}", "The ratio is $\\boxed{\\frac{\\sqrt5-1}{2}}$.", False),
    ("2^{100}", "So $\\boxed{2^{100}+1}$.", False),
    ("\\sqrt{2}", "√2 is the answer, so the final answer is √2.", True),
    ("\\pi", "The final answer is π.", True),
]

STRUCTURES: list[Row] = [
    # intervals, unions, inequalities against intervals
    ("[2, 5)", "The solution set is $\\boxed{[2,5)}$.", True),
    ("[2, 5)", "The solution set is $\\boxed{(2,5]}$.", False),
    ("[2, 5)", "So $\\boxed{2 \\le x < 5}$.", True),
    ("(3, \\infty)", "Therefore $\\boxed{x > 3}$.", True),
    ("(3, \\infty)", "Therefore $\\boxed{x \\geq 3}$.", False),
    ("(-\\infty, -1] \\cup [2, \\infty)", "$\\boxed{(-\\infty,-1]\\cup[2,\\infty)}$", True),
    ("(-\\infty, -1] \\cup [2, \\infty)", "So $\\boxed{x \\le -1 \\text{ or } x \\ge 2}$.", True),
    ("(-\\infty, -1] \\cup [2, \\infty)", "So $\\boxed{[2, \\infty) \\cup (-\\infty, -1]}$.", True),
    ("(-\\infty, -1] \\cup [2, \\infty)", "So $\\boxed{(-\\infty, -1) \\cup (2, \\infty)}$.", False),
    ("x > 3", "The answer is $(3, \\infty)$.", True),
    ("(-\\infty, 0) \\cup (0, \\infty)", "The domain is \\boxed{\\mathbb{R} \\setminus \\{0\\}}.", True),
    ("(1, 3]", "So $\\boxed{x > 1 \\text{ and } x \\le 3}$.", True),
    ("(1, 3)", "So $\\boxed{x > 1 \\text{ or } x < 3}$.", False),
    # sets against tuples; several answers
    ("\\{1, 2, 3\\}", "The set is $\\boxed{\\{3, 2, 1\\}}$.", True),
    ("(1, 2)", "The point is $\\boxed{(1, 2)}$.", True),
    ("(1, 2)", "The point is $\\boxed{(2, 1)}$.", False),
    ("(3, -4)", "The center is $\\boxed{(3,-4)}$.", True),
    ("(1, 2, 3)", "So $\\boxed{(1,2,3)}$.", True),
    ("(1, 2, 3)", "So $\\boxed{(1,3,2)}$.", False),
    ("(2, 3)", "We get $x = 2$ and $y = 3$, i.e. $\\boxed{x = 2, y = 3}$.", True),
    ("2, 3", "The roots are $\\boxed{3, 2}$.", True),
    ("2, 3", "The solutions are $x = 2$ or $x = 3$, so $\\boxed{x = 2 \\text{ or } x = 3}$.", True),
    ("2, 3", "Both work: $x = \\boxed{2}$ or $x = \\boxed{3}$.", True),
    ("2, 3", "The roots are $\\boxed{2}$.", False),
    ("2, 3", "The roots are $\\boxed{2, 3, 4}$.", False),
    ("1 \\pm \\sqrt{2}", "So $x = \\boxed{1 \\pm \\sqrt{2}}$.", True),
    ("1 + \\sqrt{2}, 1 - \\sqrt{2}", "So $x = \\boxed{1 \\pm \\sqrt{2}}$.", True),
    ("-2, 2", "So $\\boxed{x = \\pm 2}$.", True),
    # equations
    ("3", "Solving, $\\boxed{x = 3}$.", True),
    ("x = 3", "Solving, $\\boxed{3}$.", True),
    ("x = 3", "Solving, $\\boxed{2x = 6}$.", True),
    ("y = 2x + 3", "The line is $\\boxed{y = 2x + 3}$.", True),
    ("y = 2x + 3", "The line is $\\boxed{2x - y + 3 = 0}$.", True),
    ("y = 2x + 3", "The line is $\\boxed{y = 3x + 2}$.", False),
    ("f(x) = x^2 - 1", "Therefore $\\boxed{f(x) = (x-1)(x+1)}$.", True),
    # matrices and vectors
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "$\\boxed{\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}}$", True),
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "$\\boxed{\\begin{bmatrix}1&2\\\\4&3\\end{bmatrix}}$", False),
    ("\\begin{pmatrix} 2 \\\\ -1 \\end{pmatrix}",
     "The vector is $\\boxed{\\begin{pmatrix} 2 \\\\ -1 \\end{pmatrix}}$.", True),
    ("\\begin{pmatrix} 2 \\\\ -1 \\end{pmatrix}", "The vector is $\\boxed{(2, -1)}$.", True),
    ("\\begin{pmatrix} 1/2 & 0 \\\\ 0 & 1 \\end{pmatrix}",
     "$\\boxed{\\begin{pmatrix} 0.5 & 0 \\\\ 0 & 1 \\end{pmatrix}}$", True),
]

SYMBOLIC: list[Row] = [
    ("x^2 + 2x + 1", "Expanding gives $\\boxed{(x+1)^2}$.", True),
    ("(x+1)^2", "Expanding gives $\\boxed{x^2+2x+1}$.", True),
    ("(x+1)^2", "Expanding gives $\\boxed{x^2+x+1}$.", False),
    ("\\frac{x^2-1}{x-1}", "It simplifies to $\\boxed{x+1}$.", True),
    ("2\\sin x \\cos x", "By the double angle formula this is $\\boxed{\\sin 2x}$.", True),
    ("1", "Using the identity, $\\boxed{\\sin^2\\theta + \\cos^2\\theta}$.", True),
    ("\\tan x", "So it equals $\\boxed{\\frac{\\sin x}{\\cos x}}$.", True),
    ("\\cos 2x", "So it equals $\\boxed{1 - 2\\sin^2 x}$.", True),
    ("\\cos 2x", "So it equals $\\boxed{1 - \\sin^2 x}$.", False),
    ("\\frac{n(n+1)}{2}", "The sum is $\\boxed{\\frac{n^2+n}{2}}$.", True),
    ("a^2 - b^2", "Factoring: $\\boxed{(a-b)(a+b)}$.", True),
    ("a^2 - b^2", "Factoring: $\\boxed{(a-b)^2}$.", False),
    ("ab", "$\\boxed{ba}$", True),
    ("no", "The answer is No.", True),
    ("7", "We find $a = 3$ and $b = 4$, so $\\boxed{a+b=7}$.", True),
    ("\\frac{1}{3}", "The ratio of the volumes is $\\boxed{1:3}$.", True),
    ("\\ln(x^2)", "By the log rule, $\\boxed{2\\ln x}$.", True),
    ("|x|", "So $\\boxed{\\sqrt{x^2}}$.", True),
    ("x", "So $\\boxed{\\sqrt{x^2}}$.", False),
    ("2x", "So $\\boxed{2y}$.", False),
    ("x^{-1}", "So $\\boxed{\\frac{1}{x}}$.", True),
    # complex numbers
    ("3 + 4i", "So $z = \\boxed{3+4i}$.", True),
    ("3 + 4i", "So $z = \\boxed{4i + 3}$.", True),
    ("3 + 4i", "So $z = \\boxed{3-4i}$.", False),
    ("i", "So $\\boxed{\\sqrt{-1}}$.", True),
    ("-1", "Since $i^2 = -1$, we get $\\boxed{i^2}$.", True),
    ("\\frac{1}{2} - \\frac{\\sqrt{3}}{2}i", "$\\boxed{\\frac{1 - i\\sqrt{3}}{2}}$", True),
    # degrees against radians
    ("30^\\circ", "The angle is $\\boxed{30^\\circ}$.", True),
    ("30^\\circ", "The angle is $\\boxed{30}$ degrees.", True),
    ("30^\\circ", "The angle is $\\boxed{\\frac{\\pi}{6}}$.", True),
    ("\\frac{\\pi}{6}", "The angle is $\\boxed{30^{\\circ}}$.", True),
    ("30^\\circ", "The angle is $\\boxed{60^\\circ}$.", False),
    ("30", "The angle is 30°.", True),
    # other bases
    ("1011_2", "So $11 = \\boxed{1011_2}$.", True),
    ("1011_2", "The binary form is $\\boxed{1011}$.", True),
    ("1011_2", "The binary form is $\\boxed{11}$.", False),
    ("A3_{16}", "In hexadecimal: $\\boxed{A3_{16}}$.", True),
    ("2012_3", "The base-3 representation is \\boxed{2012_{3}}.", True),
]

TEXT_AND_CHOICES: list[Row] = [
    ("B", "The correct option is (B).\nThe answer is (B).", True),
    ("B", "The answer is $\\boxed{B}$.", True),
    ("(B)", "The answer is \\boxed{\\text{(B)}}.", True),
    ("B", "The answer is (C).", False),
    ("C", "Answer: C) 42", True),
    ("Monday", "So the party is on $\\boxed{\\text{Monday}}$.", True),
    ("Monday", "The answer is Tuesday.", False),
    ("\\text{Evelyn}", "The fastest runner is \\boxed{\\text{Evelyn}}.", True),
    ("yes", "The answer is Yes.", True),
    ("no solution", "The system is inconsistent, so $\\boxed{\\emptyset}$.", True),
]

LATEX_NOISE: list[Row] = [
    ("\\frac{1}{2}", "$\\boxed{\\displaystyle \\frac{1}{2}}$", True),
    ("(1, 2)", "$\\boxed{\\left( 1, 2 \\right)}$", True),
    ("12", "$\\boxed{\\text{12}}$", True),
    ("12", "$\\boxed{\\mathbf{12}}$", True),
    ("\\frac{3}{4}", "$\\boxed{\\; \\frac{3}{4} \\,}$", True),
    ("\\sqrt{3}", "$\\boxed{\\sqrt{3}\\!}$", True),
    ("4", "$$\\boxed{4}$$", True),
    ("\\{1, 2\\}", "$\\boxed{\\left\\{ 1, 2 \\right\\}}$", True),
    ("x^2", "$\\boxed{x^{2}}$", True),
    ("5", "The value is $\\boxed{\\textbf{5}}$.", True),
]

# Forms seen in real model output on MATH-style problems.
WILD: list[Row] = [
    ("2-2p", "If $2-x=p$, then $x=2-p$. Thus $x-p=\\boxed{2-2p}$.", True),
    ("\\begin{pmatrix} 0 & 3 \\\\ 0 & -1 \\end{pmatrix}",
     "\\boxed{\n\\begin{pmatrix} 0 & 3 \\\\ 0 & -1 \\end{pmatrix}\n}.\n\\end{align*}", True),
    ("12\\text{ and }13", "the sum is located between $\\boxed{12 $ and $13 }. $", True),
    ("(3, \\frac{\\pi}{2})", "the polar coordinates are $\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}.$", True),
    ("\\frac{14}{3}",
     "$f(-2)+f(-1)+f(0)=\\frac{-8}{-4}+\\frac{-5}{-3}+\\frac{-2}{-2}=2+\\frac{5}{3}+1=\\boxed{\\frac{14}{3}}$", True),
    ("3\\sqrt{13}", "\\sqrt{117} = \\boxed{3\\sqrt{13}}. \\end{align*}", True),
    ("9", "Answer \\[ 9 \\]", True),
    ("\\frac{\\sqrt{6}}{3}", "So $\\boxed{\\sqrt{\\frac{2}{3}}}$.", True),
    ("0", "So $\\boxed{-0}$.", True),
    ("-\\infty", "So $\\boxed{\\infty}$.", False),
    ("x \\in [-2,7]", "\\boxed{[-2,7]}", True),
    ("\\text{June 20}", "\\boxed{\\text{June 21}}", False),
    ("(-\\infty,-2)\\cup(-2,\\infty)", "\\boxed{x \\neq -2}", True),
    ("\\left( \\frac{1}{2}, 3 \\right)", "\\boxed{(0.5, 3)}", True),
    ("a=2, b=3", "\\boxed{b = 3, a = 2}", True),
    ("a=2, b=3", "\\boxed{a = 3, b = 2}", False),
    ("\\cos(\\pi/3)", "\\boxed{1/2}", True),
    ("8 \\text{ inches}", "\\boxed{8}", True),
    ("(1, 2)", "\\boxed{\\{1, 2\\}}", False),
    ("\\{1, 2\\}", "\\boxed{(1, 2)}", False),
    ("|x|", "\\boxed{x}", False),
    ("|xy|", "\\boxed{xy}", False),
]

ANTI_GAMING: list[Row] = [
    # several different boxed answers
    ("5", "It could be \\boxed{5}. Or maybe it is \\boxed{6}.\n\nI'll also say \\boxed{7}.", False),
    ("7", "It could be \\boxed{5}. Or maybe it is \\boxed{6}.\n\nI'll also say \\boxed{7}.", False),
    ("5", "We box the result: \\boxed{5}.\n\nDouble-checking, the result is again \\boxed{5}.", True),
    ("\\frac{1}{2}", "So $p = \\boxed{\\frac{1}{2}}$.\n\n**Final Answer**\n\\[\n\\boxed{\\dfrac{1}{2}}\n\\]", True),
    ("\\frac{1}{2}", "So $p = \\boxed{0.5}$.\n\nChecking again, $p = \\boxed{\\frac{1}{2}}$.", True),
    ("\\frac{1}{2}", "So $p = \\boxed{\\frac{1}{3}}$.\n\nWait, recounting: $p = \\boxed{\\frac{1}{2}}$.", False),
    ("6", "The answer is $\\boxed{5}$ or $\\boxed{6}$ or $\\boxed{7}$.", False),
    ("x^2 - 1", "We get $\\boxed{(x-1)(x+1)}$.\n\nExpanded: $\\boxed{x^2 - 1}$.", True),
    ("x^2 - 1", "We get $\\boxed{(x-1)(x+1)}$.\n\nOr maybe $\\boxed{x^2 + 1}$.", False),
    # hedges
    ("5", "The answer is 5 or 6 or 7.", False),
    ("6", "The answer is $\\boxed{5 \\text{ or } 6 \\text{ or } 7}$.", False),
    ("6", "It is 5, 6 or 7.", False),
    ("7", "I am not sure, maybe 5 or 6 or 7", False),
    ("5", "\\boxed{5, 6, 7}", False),
    # chains state their last part: only that one value counts, so a chain is never a hedge
    ("7", "$\\boxed{5 = 6 = 7}$", True),
    ("5", "$\\boxed{5 = 6 = 7}$", False),
    ("5", "$\\boxed{x = 2 + 3 = 5}$", True),
    # hedges stated in prose, in a later phrase, or with option letters
    ("5", "Final Answer: It is either 5 or 6.", False),
    ("6", "Final Answer: It is either 5 or 6.", False),
    ("5", "\\boxed{5}\n\nFinal Answer: The final answer is 5 or 6.", False),
    ("A", "Either (A) or (C) works.", False),
    ("4", "Let us compute 2 + 2 = 4.\nFinal Answer: The final answer is", False),
    # the gold only in the working
    ("12", "First we find 12 apples in the basket. Adding the 3 on the table we get \\boxed{15}.", False),
    ("24", "In May she sold 24 clips.\n#### 72", False),
    # truncated output
    ("42", "Let's compute: 6 * 7 = 42, so the answer is \\boxed{4", False),
    ("42", "<think>6 * 7 = 42. So the answer should be 42, but let me double check", False),
    ("42", "Let me compute 6 * 7 step by step. First, 6 * 7 = 42 and then", False),
    # not an answer
    ("42", "I cannot solve this problem.", False),
    ("42", "", False),
]

APPROXIMATIONS: list[Row] = [
    ("\\sqrt{2}", "So $\\boxed{1.414}$.", False),
    # an exact gold: a decimal of 6+ significant digits that rounds correctly is the value; fewer is a guess
    ("\\sqrt{2}", "So $\\boxed{1.41421356}$.", True),
    ("\\sqrt{2}", "So $\\boxed{1.41421}$.", True),
    ("\\sqrt{2}", "So $\\boxed{1.4142}$.", False),
    ("\\sqrt{2}", "So $\\boxed{1.41422}$.", False),
    ("\\frac{1}{12}", "So $\\boxed{0.0833333333333333}$.", True),
    ("\\frac{1}{12}", "So $\\boxed{0.08333}$.", False),
    ("\\pi", "So $\\boxed{3.14}$.", False),
    ("\\frac{1}{3}", "So $\\boxed{0.333}$.", False),
    ("3.14", "So $\\boxed{\\pi}$.", True),
    ("3.14", "So $\\boxed{3.1416}$.", True),
    ("3.14", "So $\\boxed{3.15}$.", False),
    ("\\frac{2}{3}", "So $\\boxed{0.666667}$.", True),
    ("\\frac{2}{3}", "So $\\boxed{0.666666}$.", False),  # truncated, not rounded: off in its last digit
    ("\\frac{2}{3}", "So $\\boxed{0.666660}$.", False),
    ("0.33", "So $\\boxed{\\frac{1}{3}}$.", True),
    ("1.41", "So $\\boxed{\\sqrt{2}}$.", True),
    ("2.5", "So $\\boxed{2.500}$.", True),
]

# Answers stated in prose, with no box: the final math expression, not the whole sentence; other languages.
PROSE: list[Row] = [
    ("27", "Final Answer: The number of marbles left is 27.", True),
    ("27", "Final Answer: The number of marbles left is 72.", False),
    ("8", "Final Answer: The smallest $k$ is 8.", True),
    ("8", "Final Answer: The smallest $k$ is 9.", False),
    ("40", "Réponse : il reste 40 $ à payer dans 6 mois.", True),
    ("40", "Réponse : il reste 6 $ à payer dans 40 mois.", False),
    ("36", "每个盒子有9个苹果，4个盒子一共有9 × 4 = 36个苹果。", True),
    ("36", "每个盒子有9个苹果，4个盒子一共有9 × 4 = 37个苹果。", False),
    ("15", "所以，总共需要**15天**。", True),
    ("120", "इसलिए, कुल 120 रुपये खर्च हुए।", True),
    ("5/7", "最后的比例为5/7", True),
    ("\\frac{3}{8}", "所以每人得到 (\\frac{3}{8}) 千克。", True),
    ("2, 3", "Factoring gives (x - 2)(x - 3) = 0, so x = 2 or x = 3.", True),  # several answers, unmarked
    ("2", "Factoring gives (x - 2)(x - 3) = 0, so x = 2 or x = 3.", False),  # a hedge for a single gold
    ("6", "Let me add them up: 1 + 2 + 3 = 6 and then", False),  # cut off, not an answer
    # `$ 9 $` with inner spaces; display math over several lines; currency is not math
    ("11", "The sum is $ 11 $", True),
    ("11", "So we get\n\\[\n11\n\\]", True),
    ("11", "So we get\n$$\n11\n$$", True),
    ("35", "The book costs $7 and five of them cost $35.", True),
    # chat-template tokens after the answer: the next turn is not the answer
    ("7", "So the total is 7. <|im_end|>\n<|im_start|>user\nWhat is 2 + 2?", True),
    ("7", "So the total is 7.<|eot_id|><|start_header_id|>user<|end_header_id|>Now compute 9 - 1 = 8", True),
    ("8", "So the total is 7.<|eot_id|><|start_header_id|>user<|end_header_id|>Now compute 9 - 1 = 8", False),
    # a later "final answer" after an earlier box: the box held working
    ("1250", "The interest is $\\boxed{250}$, so she has 1000 + 250 = 1250.\nFinal Answer: The final answer is $1250$.",
     True),
    ("250", "The interest is $\\boxed{250}$, so she has 1000 + 250 = 1250.\nFinal Answer: The final answer is $1250$.",
     False),
    ("250", "The interest is $\\boxed{250}$. To check the answer is reasonable: 250 / 1000 = 0.25.", True),
    # markdown emphasis around the answer; a power written with ** stays a power
    ("42", "The product is **42**.", True),
    ("8", "**Answer:** 2**3", True),
    # a reference that is a worked solution: its final answer
    ("The two numbers add to $3 + 4 = 7$ and multiply to $12$, so the larger is $4$ and the smaller $3$; "
     "their difference is $4 - 3 = 1$, which is what we wanted to find here. Final Answer: The final answer is $1$.",
     "\\boxed{1}", True),
]

# Readable LaTeX that is malformed: doubled backslashes (copied out of a JSON string), glued commands.
MALFORMED: list[Row] = [
    ("\\frac{5}{6}", "\\boxed{\\\\frac{5}{6}}", True),
    ("(2, 3)", "$\\\\left(2, 3\\\\right)$", True),
    ("[1, 4]", "So $1 \\\\le x \\\\le 4$.", True),
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
     "$\\boxed{\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}}$", True),  # a row break stays one
    ("x_1 = 2,\\quadx_2 = 5", "\\boxed{2} \\quad \\text{and} \\quad \\boxed{5}", True),
    ("x_1 = 2,\\quadx_2 = 5", "\\boxed{2} \\quad \\text{and} \\quad \\boxed{6}", False),
]

# Labelled answers: a name on the left says what the value is.
LABELS: list[Row] = [
    ("PQ=6, RS=9", "\\boxed{6, 9}", True),
    ("PQ=6, RS=9", "\\boxed{6, 8}", False),
    ("A_1:A_2=3:5", "\\boxed{3:5}", True),
    ("A_1:A_2=3:5", "\\boxed{5:3}", False),
    ("|PQ| = 4", "\\boxed{4}", True),
    ("\\frac{PQ}{QR} = \\frac{2}{3}", "\\boxed{\\frac{2}{3}}", True),
    ("3x + y = 5", "\\boxed{5}", False),  # an equation, not a labelled 5
    ("m=1,n=4;m=2,n=3", "\\boxed{(1, 4), (2, 3)}", True),
    ("m=1,n=4;m=2,n=3", "\\boxed{(1, 4), (3, 2)}", False),
    ("m = 1, n = 4 \\text{ and } m = 2, n = 3", "$m=1,n=4;m=2,n=3$", True),
    ("g(t) = 2 \\text{ and } g(t) = -3", "\\boxed{g(x) = 2 \\text{ or } g(x) = -3}", True),
]

# Relations: equivalent inequalities, bounds on a function or an absolute value, chains.
RELATIONS: list[Row] = [
    ("x > 2", "\\boxed{-x < -2}", True),
    ("x > 2", "\\boxed{-x > -2}", False),
    ("x \\le 3", "\\boxed{2x - 6 \\le 0}", True),
    ("x \\le 3", "\\boxed{6 - 2x \\le 0}", False),
    ("-1 < g(x) < 2", "\\boxed{(-1, 2)}", True),
    ("-1 < g(x) < 2", "\\boxed{[-1, 2]}", False),
    ("2 \\le |t| \\le 5", "\\boxed{[-5, -2] \\cup [2, 5]}", True),
    ("2 \\le |t| \\le 5", "\\boxed{[2, 5]}", False),
    ("y = 9", "$\\boxed{y = 4 + 4 + 1 = 8 = 9}$", True),  # a chain states its last part
    ("y = 8", "$\\boxed{y = 4 + 4 + 1 = 8 = 9}$", False),
    ("\\frac{1}{7}", "$\\boxed{x = \\frac{1}{7} \\approx 0.14}$", True),  # the exact value before \\approx
    ("0.14", "$\\boxed{x \\approx 0.14}$", True),
    ("\\frac{1}{7}", "$\\boxed{x \\approx 0.14}$", False),
    ("0 = k = 5", "\\boxed{5}", True),  # a reference's chain ends in its answer
]

NUMBER_FORMATS: list[Row] = [
    # decimal commas where the comma cannot be a thousands separator
    ("3.75", "Le prix est de 3,75 €.", True),
    ("3.75", "Le prix est de 3,57 €.", False),
    ("2500,5", "\\boxed{2500.5}", True),
    ("0,125", "\\boxed{0.125}", True),
    ("3, 75", "\\boxed{3,75}", True),  # or the list 3, 75: either reading
    ("1,250", "\\boxed{1250}", True),  # a thousands separator stays one
    # LaTeX thousands separators
    ("23456", "\\boxed{23{,}456}", True),
    ("23456", "$23 {, }456$", True),
    ("4500000", "\\boxed{4,\\!500,\\!000}", True),
    ("4500000", "\\boxed{4,\\!500,\\!001}", False),
    # percent words
    ("35\\%", "The share is 35 percent.", True),
    ("35\\%", "\\boxed{35 pct}", True),
    ("35\\%", "$35$ %", True),
    ("35\\%", "\\boxed{53 pct}", False),
    # number words
    ("12", "The answer is twelve.", True),
    ("12", "The answer is eleven.", False),
    ("\\frac{3}{4}", "The answer is three quarters.", True),
    ("2.5", "two and a half", True),
    ("105", "The answer is one hundred and five.", True),
    ("7", "seven apples", True),
    # multiple-choice letters: with option text, in lower case, after prose, in other languages
    ("(C) Berlin", "The answer is C.", True),
    ("C Berlin", "The answer is (c).", True),
    ("B", "It is not A, since the graph rises; so B.", True),
    ("B", "It is not A, since the graph rises; so C.", False),
    ("D", "D. The other options contradict the premise.", True),
    ("D", "答案是 D，不是 A。", True),
    ("D", "La réponse est D, pas B.", True),
    ("D", "The answer is D or B.", False),  # a hedge
    ("A", "A careful count of the cases gives option C.", False),  # "A" is the article here
    ("Options are listed above, and the answer is\n(B) Paris", "B", True),
]

# Units are converted (pint): the same quantity in another unit is right, another quantity is wrong.
UNITS: list[Row] = [
    ("3 km", "\\boxed{3000 m}", True),
    ("3 km", "\\boxed{300 m}", False),
    ("5 m", "\\boxed{5 cm}", False),
    ("5\\text{ m}", "\\boxed{5\\text{ cm}}", False),
    ("2 \\text{ hours}", "\\boxed{120 \\text{ minutes}}", True),
    ("2 \\text{ hours}", "\\boxed{2 \\text{ minutes}}", False),
    ("1.5 kg", "\\boxed{1500 g}", True),
    ("36 km/h", "\\boxed{10 m/s}", True),
    ("6 \\text{ cm}^2", "\\boxed{600 \\text{ mm}^2}", True),
    ("6 \\text{ cm}^2", "\\boxed{6 \\text{ cm}}", False),  # an area is not a length
    ("12 inches", "\\boxed{1 foot}", True),
    ("4 kg", "\\boxed{4 m}", False),
    ("9", "\\boxed{9 \\text{ cm}}", True),  # one side without a unit: the question fixed it
    ("9 apples", "\\boxed{9 pears}", True),  # not physical units: ignored
    ("250", "The distance is 250m.", True),
]

ALL: list[Row] = (EXTRACTION + NUMBERS + CONSTANTS + STRUCTURES + SYMBOLIC + TEXT_AND_CHOICES + LATEX_NOISE
                  + WILD + ANTI_GAMING + APPROXIMATIONS + PROSE + MALFORMED + LABELS + RELATIONS + NUMBER_FORMATS
                  + UNITS)
