// The whiteboard island: every [data-board] element on the page becomes a live board
// (a meeting's board beside the video, or the board on its own page). A board inside
// a hidden panel connects the first time the panel is shown.

import { Board } from "./board/board";

function mount(root: HTMLElement): void {
  if (root.dataset.mounted) return;
  const start = () => {
    if (root.dataset.mounted || root.closest("[hidden]")) return false;
    root.dataset.mounted = "true";
    const board = new Board(root);
    (window as unknown as { yiyunBoard: Board }).yiyunBoard = board;
    return true;
  };
  if (start()) return;
  const watch = new MutationObserver(() => {
    if (start()) watch.disconnect();
  });
  watch.observe(document.body, { attributes: true, subtree: true, attributeFilter: ["hidden"] });
}

for (const root of document.querySelectorAll<HTMLElement>("[data-board]")) mount(root);
