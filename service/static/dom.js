// What both views of the page do with the document: find an element, and take files dropped on a zone.

export const $ = (id) => document.getElementById(id);

// `onFiles(fileList)` for files dropped on `zone`; the zone is marked "over" while they hover.
export function dropZone(zone, onFiles) {
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    onFiles(event.dataTransfer.files);
  });
}
