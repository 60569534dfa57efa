// Counts words and characters as you type: the page works without any server code.
const text = document.getElementById("text");
const counts = document.getElementById("counts");

function update() {
  const words = text.value.trim() ? text.value.trim().split(/\s+/).length : 0;
  counts.textContent = `${words} word${words === 1 ? "" : "s"}, ${text.value.length} characters`;
}

text.addEventListener("input", update);
update();
