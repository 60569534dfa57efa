"""A Streamlit app: widgets in a sidebar, a chart that follows them, and session state.

Streamlit runs this script from the top on every interaction; st.session_state keeps values
between runs for one visitor, and st.cache_data keeps results between visitors.
"""

import numpy as np
import pandas as pd
import streamlit as st

st.set_page_config(page_title="Random walks", page_icon="📈", layout="wide")
st.title("Random walks")

with st.sidebar:
    walks = st.slider("Walks", 1, 10, 3)
    steps = st.slider("Steps", 10, 1000, 200, step=10)
    seed = st.number_input("Seed", value=42, step=1)


@st.cache_data
def random_walks(walks: int, steps: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        rng.standard_normal((steps, walks)).cumsum(axis=0),
        columns=[f"walk {i + 1}" for i in range(walks)],
    )


data = random_walks(walks, steps, int(seed))
st.line_chart(data)
st.caption(f"{walks} walks of {steps} steps; final positions below.")
st.dataframe(data.tail(1).T.rename(columns=lambda _: "final position"))

if "kept" not in st.session_state:
    st.session_state.kept = []
if st.button("Keep this result"):
    st.session_state.kept.append({"seed": int(seed), "mean": float(data.iloc[-1].mean())})
if st.session_state.kept:
    st.subheader("Kept this session")
    st.table(pd.DataFrame(st.session_state.kept))
