import numpy as np
import pandas as pd
import streamlit as st

st.title("Streamlit " + st.__version__)
frame = pd.DataFrame(np.arange(20).reshape(10, 2), columns=["a", "b"])
st.line_chart(frame)
st.dataframe(frame)
