// The schedule board's day view (templates/scheduling/board.html): the "now" line moves with the clock, and a
// booked exam dragged onto another time or room opens the reschedule dialog. The dialog's form posts to the booking
// page (scheduling:exam_book) with the slot and the reason, so the server's booking service decides: a past, closed
// or taken slot is refused there, with its message, as on the reschedule page.
(function () {
  "use strict";
  const board = document.querySelector(".board-day");
  if (!board) return;
  const opens = parseInt(board.dataset.opens, 10);
  const closes = parseInt(board.dataset.closes, 10);
  const span = closes - opens;

  // --- the "now" line: placed by the server in the department's time, moved on from there each half minute ------
  const lines = board.querySelectorAll(".now-line");
  if (lines.length) {
    const [hours, minutes] = lines[0].dataset.nowMinutes.split(":").map((part) => parseInt(part, 10));
    const base = hours * 60 + minutes;
    const loaded = Date.now();
    const move = () => {
      const now = base + (Date.now() - loaded) / 60000;
      const offset = ((now - opens) / span) * 100;
      lines.forEach((line) => {
        line.hidden = offset < 0 || offset > 100;
        line.style.top = `${offset.toFixed(3)}%`;
      });
    };
    window.setInterval(move, 30000);
  }

  // --- drag and drop -----------------------------------------------------------------------------------------------
  const bookUrl = board.dataset.bookUrl;
  const dialog = document.getElementById("reschedule-dialog");
  if (!bookUrl || !dialog) return;
  const form = dialog.querySelector("form");
  const summary = dialog.querySelector(".drop-summary");
  const step = parseInt(board.dataset.step, 10) || 5;
  const day = board.dataset.day;
  let dragged = null;
  let grabbed = 0; // how far below the block's top edge it was picked up (px)

  const two = (n) => String(n).padStart(2, "0");

  board.querySelectorAll("a.block.movable").forEach((block) => {
    block.addEventListener("dragstart", (event) => {
      dragged = block;
      grabbed = event.clientY - block.getBoundingClientRect().top;
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", block.dataset.exam);
      block.classList.add("dragging");
    });
    block.addEventListener("dragend", () => {
      block.classList.remove("dragging");
      board.querySelectorAll(".track.drop-target").forEach((track) => track.classList.remove("drop-target"));
    });
  });

  board.querySelectorAll(".board-column .track").forEach((track) => {
    track.addEventListener("dragover", (event) => {
      if (!dragged) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      track.classList.add("drop-target");
    });
    track.addEventListener("dragleave", () => track.classList.remove("drop-target"));
    track.addEventListener("drop", (event) => {
      if (!dragged) return;
      event.preventDefault();
      track.classList.remove("drop-target");
      const box = track.getBoundingClientRect();
      const top = Math.min(Math.max(event.clientY - box.top - grabbed, 0), box.height);
      let minute = opens + Math.round(((top / box.height) * span) / step) * step;
      minute = Math.min(Math.max(minute, opens), closes - step);
      const time = `${two(Math.floor(minute / 60))}:${two(minute % 60)}`;
      form.action = bookUrl.replace("/0/", `/${dragged.dataset.exam}/`);
      form.elements.slot.value = `${track.dataset.room}@${day}T${time}:00`;
      summary.textContent = `${dragged.dataset.name}: to ${track.dataset.roomName} at ${time}?`;
      dragged = null;
      dialog.showModal();
      form.elements.reason.focus();
    });
  });

  dialog.querySelector("[data-close]").addEventListener("click", () => dialog.close());
})();
