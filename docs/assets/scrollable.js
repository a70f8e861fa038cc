// A region that scrolls sideways can be reached with the keyboard (Tab, then the arrow keys).
// Material does this for its code blocks; here the same for notebook cells and outputs and
// for display formulas and diagrams: each takes focus while, and only while, it is wider
// than its box.
const SCROLLABLE =
  ".jupyter-wrapper .highlight-ipynb, .jupyter-wrapper .jp-OutputArea-output pre, math[display=block], figure.diagram";

const focusable = new ResizeObserver(entries => {
  for (const { target } of entries) {
    if (target.scrollWidth > target.clientWidth) target.setAttribute("tabindex", "0");
    else target.removeAttribute("tabindex");
  }
});

document$.subscribe(() => document.querySelectorAll(SCROLLABLE).forEach(region => focusable.observe(region)));
